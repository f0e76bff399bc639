#!/usr/bin/env bash
# One order on the PostgreSQL stores beside pgbench's simple-update transaction, measured in
# one run against one throw-away server, with the ratios the performance targets are stated in:
#
#   - one order (apply, authorise, capture) on one connection, within 4x the latency of one
#     `pgbench -N` transaction on one client;
#   - eight callers on distinct cards: orders per second at least 1/4 of `pgbench -N` TPS with
#     eight clients.
#
# Run from anywhere: `bash benches/pg_vs_pgbench.sh` (SECONDS=10 by default per pgbench run).
# It starts its own server (as .ci/run does: installing Debian's postgresql if initdb is
# missing) with fsync off, so both sides pay the same (no) disk flush.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
RUN_SECONDS=${SECONDS_PER_RUN:-10}

# shellcheck source=../.ci/postgres.sh
. .ci/postgres.sh
start_postgres

pgbench_bin="$pg_bin/pgbench"
[ -x "$pgbench_bin" ] || pgbench_bin=$(command -v pgbench)
pgb() { as_pg "$pgbench_bin" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@" postgres; }

echo "--- pgbench -i (scale 8, so eight clients rarely touch one branch row)"
pgb -i -q -s 8 >/dev/null 2>&1

# pgbench prints "latency average = 0.291 ms" and "tps = 3431.1 (without initial connection time)".
latency_ms() { sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'; }
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1; }

echo "--- pgbench -N, 1 client, ${RUN_SECONDS} s"
one=$(pgb -N -c 1 -j 1 -T "$RUN_SECONDS" 2>/dev/null)
pgbench_latency=$(echo "$one" | latency_ms)
echo "--- pgbench -N, 8 clients, ${RUN_SECONDS} s"
eight=$(pgb -N -c 8 -j 2 -T "$RUN_SECONDS" 2>/dev/null)
pgbench_tps=$(echo "$eight" | tps | awk '{ printf "%.0f", $1 }')

echo "--- cargo bench -p giftcert-postgres --bench store"
cargo bench -q -p giftcert-postgres --bench store -- --warm-up-time 1 --measurement-time 5 \
  >/dev/null 2>&1

# The median point estimate (ns) criterion kept for a benchmark.
median_ns() {
  sed -n 's/.*"median":{[^}]*}[^}]*"point_estimate":\([0-9.e+]*\).*/\1/p' \
    "target/criterion/$1/new/estimates.json"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }
per_second() { awk -v ns="$1" -v n="$2" 'BEGIN { printf "%.0f", n * 1e9 / ns }'; }

printf '\n%-46s %12s %12s %8s %8s\n' "figure" "measured" "anchor" "ratio" "target"
for store in "PostgresStore (Redeemer)" "AsyncPostgresStore (AsyncRedeemer)"; do
  ns=$(median_ns "one order/$store")
  r=$(ratio "$(ms "$ns")" "$pgbench_latency")
  met=$(awk -v r="$r" 'BEGIN { print (r <= 4 ? "met" : "missed") }')
  printf '%-46s %9s ms %9s ms %7sx %8s\n' "one order, $store" "$(ms "$ns")" "$pgbench_latency" "$r" "<=4x $met"
done
for store in "PostgresStore (8 threads)" "AsyncPostgresStore (8 tasks)"; do
  ns=$(median_ns "8 concurrent orders/$store")
  ops=$(per_second "$ns" 8)
  r=$(ratio "$ops" "$pgbench_tps")
  met=$(awk -v r="$r" 'BEGIN { print (r >= 0.25 ? "met" : "missed") }')
  printf '%-46s %8s /s %8s /s %7sx %8s\n' "orders/s, $store" "$ops" "$pgbench_tps" "$r" ">=1/4 $met"
done
echo
echo "anchors: pgbench -N latency with 1 client, TPS with 8 clients; $(as_pg "$pg_bin/postgres" --version)"
