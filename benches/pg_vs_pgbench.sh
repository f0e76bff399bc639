#!/usr/bin/env bash
# One order on the PostgreSQL stores beside pgbench's simple-update transaction, measured in
# one run against one throw-away server, with the ratios the performance targets are stated in:
#
#   - one order (apply, authorise, capture) on one connection, within 4x the latency of one
#     `pgbench -N` transaction on one client;
#   - eight callers on distinct cards: orders per second at least 1/4 of `pgbench -N` TPS with
#     eight clients;
#   - a hot card (eight callers, one card): orders per second and the 99th percentile of an
#     order's latency reported, and no order failed;
#   - a commit in one round trip (the statements the server ran, counted with
#     pg_stat_statements, which this script loads; each statement is one round trip);
#   - a code lookup and a balance read as fast among 1,000,000 cards as among 1,000 (within 2x).
#
# Every target is one line of the table at the end, with "met" or "missed".
#
# Run from anywhere: `bash benches/pg_vs_pgbench.sh`. ROUNDS=5 rounds of pgbench then the stores
# (the ratios are the median of the rounds' pairs, with their range); SECONDS_PER_RUN=5 per
# pgbench run.
# It starts its own server (as .ci/run does: installing Debian's postgresql if initdb is
# missing) with fsync off, so both sides pay the same (no) disk flush.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
RUN_SECONDS=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-5}

# shellcheck source=../.ci/postgres.sh
. .ci/postgres.sh
start_postgres
# Again with pg_stat_statements, which counts the statements (so the round trips) of a request.
# Both sides pay its (small) cost.
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 120 restart \
  -o "-p $PG_PORT -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off \
      -c shared_preload_libraries=pg_stat_statements" >/dev/null
criterion_dir="${CARGO_TARGET_DIR:-target}/criterion"
log=$(mktemp "${TMPDIR:-/tmp}/pg_vs_pgbench.XXXXXX")

pgbench_bin="$pg_bin/pgbench"
[ -x "$pgbench_bin" ] || pgbench_bin=$(command -v pgbench)
pgb() { as_pg "$pgbench_bin" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@" postgres; }

echo "--- pgbench -i (scale 8, so eight clients rarely touch one branch row)"
pgb -i -q -s 8 >/dev/null 2>&1

# pgbench prints "latency average = 0.291 ms" and "tps = 3431.1 (without initial connection time)".
latency_ms() { sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'; }
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1; }

# The median point estimate (ns) criterion kept for a benchmark.
median_ns() {
  sed -n 's/.*"median":{[^}]*}[^}]*"point_estimate":\([0-9.e+]*\).*/\1/p' \
    "$criterion_dir/$1/new/estimates.json"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }
per_second() { awk -v ns="$1" -v n="$2" 'BEGIN { printf "%.0f", n * 1e9 / ns }'; }
# The median of the numbers on stdin, one per line, and their range: "4.10 (3.90-4.60)".
spread() {
  sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f (%.2f-%.2f)", m, v[1], v[NR] }'
}
median() { spread | cut -d ' ' -f 1; }

# The machine is shared and its load moves: each round runs pgbench and then the stores, a few
# seconds apart, and each target is judged on the median of the rounds' paired ratios.
one_stores=("PostgresStore (Redeemer)" "AsyncPostgresStore (AsyncRedeemer)")
eight_stores=("PostgresStore (8 threads)" "AsyncPostgresStore (8 tasks)")
rounds_dir=$(mktemp -d "${TMPDIR:-/tmp}/pg_vs_pgbench_rounds.XXXXXX")
for round in $(seq 1 "$ROUNDS"); do
  echo "--- round $round of $ROUNDS: pgbench -N (1 client, then 8), ${RUN_SECONDS} s each; the stores"
  pgb -N -c 1 -j 1 -T "$RUN_SECONDS" 2>/dev/null | latency_ms >>"$rounds_dir/pgbench_latency"
  pgb -N -c 8 -j 2 -T "$RUN_SECONDS" 2>/dev/null | tps >>"$rounds_dir/pgbench_tps"
  # The hot card runs its full time in the last round only, whose log the table reads.
  hot=1
  [ "$round" = "$ROUNDS" ] && hot=5
  GIFTCERT_BENCH_HOT_SECONDS=$hot cargo bench -q -p giftcert-postgres --bench store -- \
    --warm-up-time 1 --measurement-time 3 >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  latency=$(tail -n 1 "$rounds_dir/pgbench_latency")
  eight_tps=$(tail -n 1 "$rounds_dir/pgbench_tps")
  for i in 0 1; do
    ns=$(median_ns "one order/${one_stores[$i]}")
    ms "$ns" >>"$rounds_dir/one_$i"; echo >>"$rounds_dir/one_$i"
    ratio "$(ms "$ns")" "$latency" >>"$rounds_dir/one_ratio_$i"; echo >>"$rounds_dir/one_ratio_$i"
    ns=$(median_ns "8 concurrent orders/${eight_stores[$i]}")
    ops=$(per_second "$ns" 8)
    echo "$ops" >>"$rounds_dir/eight_$i"
    ratio "$ops" "$eight_tps" >>"$rounds_dir/eight_ratio_$i"; echo >>"$rounds_dir/eight_ratio_$i"
  done
done
grep -E '^(round trips|    )' "$log" || true
echo "--- cargo bench -p giftcert-postgres --bench lookups (1,000 and 1,000,000 cards)"
cargo bench -q -p giftcert-postgres --bench lookups -- --warm-up-time 1 --measurement-time 3 \
  >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }

pgbench_latency=$(median <"$rounds_dir/pgbench_latency")
pgbench_tps=$(median <"$rounds_dir/pgbench_tps" | awk '{ printf "%.0f", $1 }')
printf '\n%-46s %12s %12s %20s %8s\n' "figure (median of $ROUNDS rounds)" "measured" "anchor" \
  "ratio (range)" "target"
for i in 0 1; do
  r=$(spread <"$rounds_dir/one_ratio_$i")
  met=$(awk -v r="${r%% *}" 'BEGIN { print (r <= 4 ? "met" : "missed") }')
  printf '%-46s %9s ms %9s ms %20s %8s\n' "one order, ${one_stores[$i]}" \
    "$(median <"$rounds_dir/one_$i")" "$pgbench_latency" "${r%% *}x ${r#* }" "<=4x $met"
done
for i in 0 1; do
  r=$(spread <"$rounds_dir/eight_ratio_$i")
  met=$(awk -v r="${r%% *}" 'BEGIN { print (r >= 0.25 ? "met" : "missed") }')
  printf '%-46s %8s /s %8s /s %20s %8s\n' "orders/s, ${eight_stores[$i]}" \
    "$(median <"$rounds_dir/eight_$i" | awk '{ printf "%.0f", $1 }')" "$pgbench_tps" \
    "${r%% *}x ${r#* }" ">=1/4 $met"
done
rm -rf "$rounds_dir"
# "hot card, PostgresStore (8 threads, one card): 120 orders/s, p50 60.00 ms, p99 90.00 ms,
# failures 0 of 600"
for store in "PostgresStore (8 threads, one card)" "AsyncPostgresStore (8 tasks, one card)"; do
  line=$(grep -F "hot card, $store:" "$log" | head -n 1)
  ops=$(echo "$line" | sed -n 's/.*: \([0-9]*\) orders\/s.*/\1/p')
  p99=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  failed=$(echo "$line" | sed -n 's/.*failures \([0-9]*\) of.*/\1/p')
  met=$([ "${failed:-1}" = 0 ] && echo met || echo missed)
  printf '%-46s %8s /s %12s %8s %8s\n' "hot card, $store" "$ops" "p99 $p99 ms" "" "0 failed $met"
  printf '%-46s %12s %12s %8s %8s\n' "  failures" "$failed" "" "" ""
done
# "round trips per commit, PostgresStore: 1.00"
for store in PostgresStore AsyncPostgresStore; do
  per=$(sed -n "s/^round trips per commit, $store: \([0-9.]*\)$/\1/p" "$log")
  order=$(sed -n "s/^round trips, $store: .*, order \([0-9]*\)$/\1/p" "$log")
  met=$(awk -v r="${per:-99}" 'BEGIN { print (r + 0 == 1 ? "met" : "missed") }')
  printf '%-46s %12s %12s %8s %8s\n' "round trips per commit, $store" "${per:-?}" "1" "" "=1 $met"
  printf '%-46s %12s %12s %8s %8s\n' "round trips per order, $store" "${order:-?}" "" "" ""
done
for lookup in "card_by_code" "card (balance read)"; do
  small=$(median_ns "lookups on PostgreSQL/$lookup/1000")
  large=$(median_ns "lookups on PostgreSQL/$lookup/1000000")
  r=$(ratio "$large" "$small")
  met=$(awk -v r="$r" 'BEGIN { print (r <= 2 ? "met" : "missed") }')
  printf '%-46s %9s us %9s us %7sx %8s\n' "$lookup, 1,000,000 vs 1,000 cards" \
    "$(awk -v ns="$large" 'BEGIN { printf "%.1f", ns / 1e3 }')" \
    "$(awk -v ns="$small" 'BEGIN { printf "%.1f", ns / 1e3 }')" "$r" "<=2x $met"
done
echo
echo "anchors: pgbench -N latency with 1 client, TPS with 8 clients; the smaller table for the"
echo "lookups; $(as_pg "$pg_bin/postgres" --version), fsync off, pg_stat_statements loaded;"
echo "load average $(cut -d ' ' -f 1-3 /proc/loadavg), commit $(git rev-parse --short HEAD), $(date -u +%FT%RZ)"
rm -f "$log"
