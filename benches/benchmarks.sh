#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (at the workspace's root) from the workspace's benches.
#
#   bash benches/benchmarks.sh                 # every section (PostgreSQL only when installed)
#   bash benches/benchmarks.sh codes balance   # only these sections; the others are kept as is
#
# Sections, each one bench run:
#   allocation  cargo bench -p giftcert-benches --bench allocation               allocating a payment over 1 to 1,000 cards
#   totals      cargo bench -p giftcert-benches --bench totals -- totals/        totals of 1 to 500 lines, beside a floor
#   carts       cargo bench -p giftcert-benches --bench totals -- "large carts"  build + totals, 1,000 to 50,000 lines
#   codes       cargo bench -p giftcert-benches --bench codes                    generating, parsing, comparing codes
#   balance     cargo bench -p giftcert-benches --bench balance                  a balance read at 10 to 100,000 entries
#   redemption  cargo bench -p giftcert-benches --bench redemption               one order on MemoryStore, 1 and 2 threads
#   memory      cargo bench -p giftcert-benches --bench memory                   bytes and allocations in MemoryStore
#   sqlite      cargo bench -p giftcert-sqlite --bench store                     one order on SQLite
#   report      cargo bench -p giftcert-sqlite --bench report                    search and liability, 1 M cards
#   postgres    bash benches/pg_vs_pgbench.sh                                    PostgreSQL beside pgbench
#   quickstart  cargo run --example quickstart, from an empty target folder    a newcomer's first build
#
# Each section is written between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in
# BENCHMARKS.md with the command, the date, `git rev-parse --short HEAD`, `nproc`, the memory,
# the CPU, the compiler and the load average before and after the run, so a partial run
# replaces only what it measured. Criterion's medians are read from
# target/criterion/**/new/estimates.json, only from benchmarks this run wrote.
#
# WARM_UP and MEASURE (seconds, default 1 and 3) are passed to criterion. The `report`
# section builds SQLite files of 10,000 and 1,000,000 cards (about 2 GB, kept under the target
# folder for the next run); `postgres` starts its own server (see pg_vs_pgbench.sh) and is
# skipped, with its section kept, when no PostgreSQL is installed (no `initdb`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
WARM_UP=${WARM_UP:-1}
MEASURE=${MEASURE:-3}
out=BENCHMARKS.md
criterion_dir="${CARGO_TARGET_DIR:-target}/criterion"
all_sections="allocation totals carts codes balance redemption memory sqlite report postgres quickstart"
sections=${*:-$all_sections}
for s in $sections; do
  case " $all_sections " in *" $s "*) ;; *) echo "unknown section: $s (one of: $all_sections)" >&2; exit 2 ;; esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/benchmarks.XXXXXX")
trap 'rm -rf "$work"' EXIT
stamp="$work/stamp"

# --- formatting -------------------------------------------------------------------------

# 1234.5 (ns) -> "1.23 µs": three significant digits, whole nanoseconds below 1 µs.
fmt() {
  awk -v ns="$1" 'BEGIN {
    if (ns < 999.5) printf "%.0f ns", ns;
    else if (ns < 999.5e3) printf "%.3g µs", ns / 1e3;
    else if (ns < 999.5e6) printf "%.3g ms", ns / 1e6;
    else printf "%.3g s", ns / 1e9 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf (r < 10 ? "%.2fx" : "%.1fx"), r }'; }
# met if a <= b
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b ? "met" : "**missed**") }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b ? "met" : "**missed**") }'; }
load1() { cut -d ' ' -f 1 /proc/loadavg; }
# 16977 -> "16,977"; 52.0 -> "52", 52.25 -> "52.3"
count() {
  awk -v n="$1" 'BEGIN {
    s = sprintf("%.1f", n); sub(/\.0$/, "", s);
    split(s, part, "."); whole = part[1]; out = "";
    while (length(whole) > 3) { out = "," substr(whole, length(whole) - 2) out; whole = substr(whole, 1, length(whole) - 3) }
    printf "%s%s%s", whole, out, (part[2] != "" ? "." part[2] : "") }'
}

# The median (ns) of the benchmark whose criterion id is "$1" ("group/function/value"), from
# a benchmark.json written by this run; exits if there is none.
median_ns() {
  local meta
  meta=$(find "$criterion_dir" -path '*/new/benchmark.json' -newer "$stamp" -print0 2>/dev/null |
    xargs -0 -r grep -lF "\"full_id\":\"$1\"" | head -n 1)
  if [ -z "$meta" ]; then
    echo "benchmarks.sh: no criterion result for \"$1\" from this run" >&2
    exit 1
  fi
  sed -n 's/.*"median":{[^}]*}[^}]*"point_estimate":\([0-9.e+-]*\).*/\1/p' \
    "$(dirname "$meta")/estimates.json"
}

# Runs a command, its output kept in $work/log, and notes the load before and after; a cargo
# bench is built first (`--no-run`), so that the load before is not the compiler's.
run() {
  if [ "$1" = cargo ]; then
    local build=() arg
    for arg in "$@"; do
      [ "$arg" = -- ] && break
      build+=("$arg")
    done
    echo "--- ${build[*]} --no-run" >&2
    if ! "${build[@]}" --no-run >"$work/log" 2>&1; then
      cat "$work/log" >&2
      exit 1
    fi
  fi
  load_before=$(load1)
  touch "$stamp"
  sleep 1 # so that files this run writes are newer than the stamp at any timestamp granularity
  echo "--- $*" >&2
  if ! "$@" >"$work/log" 2>&1; then
    cat "$work/log" >&2
    exit 1
  fi
  load_after=$(load1)
}

crit() { echo "-- --warm-up-time $WARM_UP --measurement-time $MEASURE"; }

# The provenance paragraph of a section: how, when, where, at what load.
provenance() {
  local dirty=""
  # BENCHMARKS.md itself changes as sections are written: only the rest counts.
  git diff --quiet HEAD -- . ":(exclude)$out" 2>/dev/null || dirty=" with uncommitted changes"
  local mem cpu
  mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  printf '%s\n\n' "Written by \`bash benches/benchmarks.sh $1\`: \`$2\`, on $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$(git rev-parse --short HEAD)\`$dirty; $(nproc) cores, $mem, ${cpu:-unknown CPU}; $(rustc --version | cut -d ' ' -f 1-2), ${3:-release build}; load average (1 minute) $load_before before the run, $load_after after."
}

table_head() {
  echo "| figure | measured | anchor | ratio | target |"
  echo "| --- | --- | --- | --- | --- |"
}

# --- sections ---------------------------------------------------------------------------

section_allocation() {
  local cmd
  cmd="cargo bench -p giftcert-benches --bench allocation $(crit)"
  # shellcheck disable=SC2086
  run cargo bench -p giftcert-benches --bench allocation $(crit)
  echo "## Allocation"
  echo
  echo "Paying about two thirds of what n cards hold, lowest card first (\`redeem::allocate\`); the"
  echo "anchor is the floor: sorting the amounts and taking min/subtract over them as \`Decimal\`."
  echo
  provenance allocation "$cmd"
  table_head
  for n in 1 10 1000; do
    local m f target=""
    m=$(median_ns "allocation/allocate/$n")
    f=$(median_ns "allocation/floor/$n")
    if [ "$n" = 10 ]; then
      target="< 1 µs and < 3x the floor: $(awk -v m="$m" -v f="$f" 'BEGIN { print (m < 1000 && m / f < 3 ? "met" : "**missed**") }')"
    fi
    echo "| allocate, $n card(s) | $(fmt "$m") | floor $(fmt "$f") | $(ratio "$m" "$f") | $target |"
  done
}

section_totals() {
  local cmd
  cmd="cargo bench -p giftcert-benches --bench totals $(crit) totals/"
  # shellcheck disable=SC2086
  run cargo bench -p giftcert-benches --bench totals $(crit) totals/
  echo "## Totals"
  echo
  echo "\`Totals::compute\` of a cart over three tax rates, with no gift certificate and with three;"
  echo "the anchor is the floor: each line added to its rate's base, one rounded tax per rate."
  echo
  provenance totals "$cmd"
  table_head
  local small large f20 f500
  f20=$(median_ns "totals/floor/20 lines x 3 rates")
  f500=$(median_ns "totals/floor/500 lines x 3 rates")
  small=$(median_ns "totals/compute, 0 cards/20 lines x 3 rates")
  echo "| totals, no cards, 20 lines | $(fmt "$small") | floor $(fmt "$f20") | $(ratio "$small" "$f20") | < 2 µs: $(le "$small" 2000) |"
  local three
  three=$(median_ns "totals/compute, 3 cards/20 lines x 3 rates")
  echo "| totals, 3 cards, 20 lines | $(fmt "$three") | floor $(fmt "$f20") | $(ratio "$three" "$f20") | |"
  large=$(median_ns "totals/compute, 0 cards/500 lines x 3 rates")
  echo "| totals, no cards, 500 lines | $(fmt "$large") | floor $(fmt "$f500") | $(ratio "$large" "$f500") | linear in lines (25x the lines of 20, $(ratio "$large" "$small") the time): $(le "$(awk -v a="$large" -v b="$small" 'BEGIN { print a / b }')" 25) |"
}

section_carts() {
  local cmd
  cmd="cargo bench -p giftcert-benches --bench totals -- \"large carts\""
  run cargo bench -p giftcert-benches --bench totals -- "large carts"
  echo "## Large carts"
  echo
  echo "Building a cart line by line (\`Selection::add_product\`, three tax rates) and computing its"
  echo "totals, timed together, and the totals alone on the built cart; the anchor is the"
  echo "1,000-line cart. The 50,000-line cart's lines (about 6 MB) and its SKU index outgrow the"
  echo "caches, so the ratio depends on what else shares them."
  echo
  provenance carts "$cmd"
  table_head
  local kind label b1 b10 b50
  for kind in "build + compute" "compute only"; do
    label=$([ "$kind" = "build + compute" ] && echo "build a cart and compute its totals" || echo "totals alone")
    b1=$(median_ns "large carts/$kind, 3 rates/1000")
    b10=$(median_ns "large carts/$kind, 3 rates/10000")
    b50=$(median_ns "large carts/$kind, 3 rates/50000")
    echo "| $label, 1,000 → 50,000 lines | $(fmt "$b1") → $(fmt "$b50") (10,000: $(fmt "$b10")) | 1,000 lines | $(ratio "$b50" "$b1") | within 60x: $(le "$(awk -v a="$b50" -v b="$b1" 'BEGIN { print a / b }')" 60); 50,000 lines under 50 ms: $(le "$b50" 50000000) |"
  done
}

section_codes() {
  local cmd
  cmd="cargo bench -p giftcert-benches --bench codes $(crit)"
  # shellcheck disable=SC2086
  run cargo bench -p giftcert-benches --bench codes $(crit)
  echo "## Codes"
  echo
  echo "A default code is 16 random symbols and a check character; the anchor is the floor, the"
  echo "10 bytes those symbols take from the same OS-seeded CSPRNG."
  echo
  provenance codes "$cmd"
  table_head
  local floor gen group parse cmp
  floor=$(median_ns "codes/floor: 10 bytes from the CSPRNG")
  gen=$(median_ns "codes/generate (check character)")
  group=$(median_ns "codes/generate + group for the owner")
  parse=$(median_ns "codes/parse + check a typed code")
  cmp=$(median_ns "codes/compare two codes (constant time)")
  echo "| generate a code (check character) | $(fmt "$gen") | floor $(fmt "$floor") | $(ratio "$gen" "$floor") | |"
  echo "| generate + group for the owner | $(fmt "$group") | | | >= 5 M/s: $(ge "$(awk -v ns="$group" 'BEGIN { print 1e3 / ns }')" 5) ($(awk -v ns="$group" 'BEGIN { printf "%.1f", 1e3 / ns }') M/s) |"
  echo "| parse + check a typed code | $(fmt "$parse") | | | |"
  echo "| compare two codes (constant time) | $(fmt "$cmp") | | | |"
}

section_balance() {
  local cmd
  cmd="cargo bench -p giftcert-benches --bench balance $(crit)"
  # shellcheck disable=SC2086
  run cargo bench -p giftcert-benches --bench balance $(crit)
  echo "## Balance reads"
  echo
  echo "A card's balance and available amount read from \`MemoryStore\` (\`Redeemer::card\`) with"
  echo "10 to 100,000 ledger entries; the anchor is the card with 10."
  echo
  provenance balance "$cmd"
  table_head
  local small n m
  small=$(median_ns "balance/balance+available/10")
  for n in 10 1000 100000; do
    m=$(median_ns "balance/balance+available/$n")
    if [ "$n" = 10 ]; then
      echo "| balance + available, 10 entries | $(fmt "$m") | | | |"
    else
      echo "| balance + available, $n entries | $(fmt "$m") | 10 entries | $(ratio "$m" "$small") | within 2x: $(le "$(awk -v a="$m" -v b="$small" 'BEGIN { print a / b }')" 2) |"
    fi
  done
}

section_redemption() {
  local cmd
  cmd="cargo bench -p giftcert-benches --bench redemption -- --warm-up-time $WARM_UP --measurement-time 4"
  run cargo bench -p giftcert-benches --bench redemption -- --warm-up-time "$WARM_UP" --measurement-time 4
  echo "## One order on MemoryStore"
  echo
  echo "One order is three requests and four commits: apply the code (the guard slot reserved,"
  echo "then the checkout written with the slot given back), authorise and capture (each a read, a"
  echo "pure decision and a versioned commit with its idempotency record). Two threads split the"
  echo "orders between them; the figure is wall time per order. The floor is a locked map lookup"
  echo "that moves a \`Decimal\` twice."
  echo
  provenance redemption "$cmd"
  table_head
  local one diff same floor
  one=$(median_ns "redemption/apply+authorise+capture/1 thread")
  diff=$(median_ns "redemption/apply+authorise+capture/2 threads, different cards")
  same=$(median_ns "redemption/apply+authorise+capture/2 threads, same card")
  floor=$(median_ns "redemption/floor: locked lookup moving a Decimal twice")
  echo "| one order, 1 thread | $(fmt "$one") | floor $(fmt "$floor") | $(ratio "$one" 2000) the target | under 2 µs: $(le "$one" 2000) |"
  echo "| one order, 2 threads on different cards | $(fmt "$diff") | 1 thread | $(ratio "$one" "$diff") faster | faster than 1 thread: $(le "$diff" "$one") |"
  echo "| one order, 2 threads on one card | $(fmt "$same") | | | reported |"
}

section_memory() {
  local cmd="cargo bench -p giftcert-benches --bench memory"
  run cargo bench -p giftcert-benches --bench memory
  echo "## Memory"
  echo
  echo "Bytes counted by a wrapping global allocator (\`benches/memory.rs\`), not from \`size_of\`:"
  echo "10,000 cards issued at once, then 50,000 orders on one card."
  echo
  provenance memory "$cmd"
  local log="$work/log" card entry order allocs allocated
  card=$(sed -n 's/^bytes per card ([^)]*): \([0-9]*\)$/\1/p' "$log")
  entry=$(sed -n 's/^bytes per ledger entry ([^)]*): \([0-9]*\)$/\1/p' "$log")
  order=$(sed -n 's/^bytes per order ([^)]*): \([0-9]*\)$/\1/p' "$log")
  allocs=$(sed -n 's/^allocations per order ([^)]*): \([0-9.]*\) .*/\1/p' "$log")
  allocated=$(sed -n 's/^allocations per order ([^)]*): [0-9.]* (\([0-9]*\) bytes allocated.*/\1/p' "$log")
  table_head
  if [ -z "$card" ] || [ -z "$entry" ] || [ -z "$order" ] || [ -z "$allocs" ]; then
    echo "benchmarks.sh: benches/memory.rs printed lines this script does not read:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "| allocations per order (apply, authorise, capture) | $(count "$allocs") ($(count "$allocated") bytes allocated, freed but for the records) | | | reported |"
  echo "| a ledger entry in \`MemoryStore\` | $(count "$entry") bytes | | | at most 160 bytes: $(le "$entry" 160) |"
  echo "| a card in \`MemoryStore\` (code index, first entry) | $(count "$card") bytes | | | |"
  echo "| one order's records (2 entries, checkout, 2 idempotency records) | $(count "$order") bytes | | | |"
}

section_quickstart() {
  local cmd="CARGO_TARGET_DIR=<an empty folder> cargo run --example quickstart"
  # Registry downloads are not counted: cargo's own cache (~/.cargo) is kept.
  # shellcheck disable=SC2016
  run bash -c 'start=$(date +%s%N); CARGO_TARGET_DIR="$1" cargo run --example quickstart || exit 1
    echo "elapsed_ns $(($(date +%s%N) - start))"' quickstart "$work/quickstart-target"
  local log="$work/log" ns crates dev_only
  ns=$(sed -n 's/^elapsed_ns \([0-9]*\)$/\1/p' "$log")
  crates=$(grep -c '^ *Compiling ' "$log" || true)
  dev_only=$(grep -oE '^ *Compiling (criterion|proptest|stats_alloc) ' "$log" | awk '{print $2}' | sort -u | tr '\n' ' ' || true)
  echo "## A newcomer's first command"
  echo
  echo "The README's first command, \`cargo run --example quickstart\`, from an empty target folder"
  echo "(registry downloads already in cargo's cache): what a newcomer waits before the example"
  echo "prints. The benches and the property tests are packages of their own, so it compiles"
  echo "neither criterion nor proptest."
  echo
  provenance quickstart "$cmd" "dev build"
  table_head
  echo "| \`cargo run --example quickstart\`, cold | $(fmt "$ns") | | | reported |"
  echo "| crates compiled | $crates | | | no criterion, proptest or stats_alloc: $([ -z "$dev_only" ] && echo met || echo "**missed** ($dev_only)") |"
}

section_sqlite() {
  local cmd="cargo bench -p giftcert-sqlite --bench store"
  run cargo bench -p giftcert-sqlite --bench store
  echo "## One order on SQLite"
  echo
  echo "One order (apply, authorise, capture) on \`SqliteStore\`, every commit synced (WAL,"
  echo "\`synchronous = FULL\`); the anchor is three bare \`BEGIN IMMEDIATE; UPDATE; COMMIT\`"
  echo "transactions on a file opened the same way."
  echo
  provenance sqlite "$cmd"
  table_head
  local order bare
  order=$(median_ns "apply + authorise + capture/SqliteStore")
  bare=$(median_ns "three bare transactions/BEGIN IMMEDIATE; UPDATE; COMMIT x3")
  echo "| SQLite, one order | $(fmt "$order") | three bare transactions: $(fmt "$bare") | $(ratio "$order" "$bare") | within 3x: $(le "$(awk -v a="$order" -v b="$bare" 'BEGIN { print a / b }')" 3) |"
}

section_report() {
  local cmd="cargo bench -p giftcert-sqlite --bench report"
  run cargo bench -p giftcert-sqlite --bench report
  echo "## Search, the liability report and lookups on SQLite"
  echo
  echo "Each card issued, every fourth held and captured, 50 cards a page; the anchor is the"
  echo "smaller file."
  echo
  provenance report "$cmd"
  table_head
  local what s l
  for what in "search page by tag" "search page by currency after a cursor" "search page expiring before a date" "liability report"; do
    s=$(median_ns "back office on SQLite/$what/10000")
    l=$(median_ns "back office on SQLite/$what/1000000")
    if [ "$what" = "liability report" ]; then
      echo "| $what, 10,000 → 1,000,000 cards | $(fmt "$s") → $(fmt "$l") | 10,000 cards | $(ratio "$l" "$s") | reported (one pass over the ledger) |"
    else
      echo "| $what, 10,000 → 1,000,000 cards | $(fmt "$s") → $(fmt "$l") | 10,000 cards | $(ratio "$l" "$s") | within 2x: $(le "$(awk -v a="$l" -v b="$s" 'BEGIN { print a / b }')" 2) |"
    fi
  done
  for what in "card_by_code" "card (balance read)"; do
    s=$(median_ns "lookups on SQLite/$what/1000")
    l=$(median_ns "lookups on SQLite/$what/1000000")
    echo "| SQLite \`${what%% *}\`$([ "$what" = card_by_code ] || echo ' (balance read)'), 1,000 → 1,000,000 cards | $(fmt "$s") → $(fmt "$l") | 1,000 cards | $(ratio "$l" "$s") | within 2x: $(le "$(awk -v a="$l" -v b="$s" 'BEGIN { print a / b }')" 2) |"
  done
}

postgres_installed() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

section_postgres() {
  local cmd="bash benches/pg_vs_pgbench.sh"
  run bash benches/pg_vs_pgbench.sh
  echo "## PostgreSQL beside pgbench"
  echo
  echo "\`benches/pg_vs_pgbench.sh\` starts a throw-away PostgreSQL on loopback (\`fsync\` off,"
  echo "\`pg_stat_statements\` loaded), then in each of five rounds runs \`pgbench -N\` with 1 and 8"
  echo "clients as the anchors and \`stores/postgres/benches/store.rs\` right after, so each ratio"
  echo "pairs figures taken seconds apart; a target is judged on the median of the rounds' ratios"
  echo "(their range beside it). Then \`lookups.rs\`. Its table, the statements each"
  echo "request sent (one round trip each) and the share of HOT updates, as it printed them:"
  echo
  provenance postgres "$cmd"
  echo '```text'
  grep -E '^(round trips|    )' "$work/log" || true
  echo
  sed -n '/^figure /,$p' "$work/log"
  echo '```'
}

# --- BENCHMARKS.md ----------------------------------------------------------------------

# Replaces the section between the markers of $1 with the file $2, or appends it.
splice() {
  local name=$1 body=$2
  if [ -f "$out" ] && grep -qF "<!-- bench:$name -->" "$out"; then
    awk -v name="$name" -v body="$body" '
      $0 == "<!-- bench:" name " -->" { print; while ((getline line < body) > 0) print line; skip = 1; next }
      $0 == "<!-- /bench:" name " -->" { skip = 0 }
      !skip { print }' "$out" >"$work/out"
  else
    { [ -f "$out" ] && cat "$out"; printf '\n<!-- bench:%s -->\n' "$name"; cat "$body"; printf '<!-- /bench:%s -->\n' "$name"; } >"$work/out"
  fi
  mv "$work/out" "$out"
}

for s in $sections; do
  if [ "$s" = postgres ] && ! postgres_installed; then
    echo "--- postgres: no PostgreSQL installed (no initdb); its section is kept as it was" >&2
    continue
  fi
  "section_$s" >"$work/$s.md"
  echo >>"$work/$s.md"
  splice "$s" "$work/$s.md"
  echo "--- $s written to $out" >&2
done
