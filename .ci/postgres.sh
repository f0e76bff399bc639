# A throw-away PostgreSQL server, for `.ci/run` and `benches/pg_vs_pgbench.sh` (source this
# file; it defines functions and sets traps, nothing else). `start_postgres` installs Debian's
# postgresql package if initdb is missing, starts a server on a free loopback port with its
# data in a temporary folder, and exports GIFTCERT_POSTGRES_URL (and PG_PORT, PG_SOCKET_DIR,
# pg_bin); the server is stopped and its folder deleted when the script exits.

# The folder holding initdb and pg_ctl: the PATH's, else the newest Debian cluster version's.
pg_bin_dir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return
    fi
  done
}

# PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A TCP port on 127.0.0.1 that nothing answers on.
free_port() {
  local port tries
  for tries in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free port found" >&2
  return 1
}

pg_dir=""
stop_postgres() {
  if [ -n "$pg_dir" ] && [ -d "$pg_dir" ]; then
    echo "--- stopping the throw-away PostgreSQL server and deleting $pg_dir"
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap stop_postgres EXIT
trap 'exit 130' INT TERM

start_postgres() {
  pg_bin=$(pg_bin_dir)
  if [ -z "$pg_bin" ]; then
    printf '\n=== %s\n' "apt-get install postgresql (initdb is missing)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends postgresql
    pg_bin=$(pg_bin_dir)
    if [ -z "$pg_bin" ]; then
      echo "postgresql is installed but initdb was not found" >&2
      exit 1
    fi
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/giftcert-ci-postgres.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$pg_dir"
  fi
  local port
  port=$(free_port)
  echo "--- $("$pg_bin/pg_ctl" --version), data in $pg_dir, port $port"
  if ! as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --no-sync \
      --encoding=UTF8 --locale=C >"$pg_dir/initdb.log" 2>&1; then
    cat "$pg_dir/initdb.log" >&2
    exit 1
  fi
  # Local connections only; fsync off because the data dies with this run anyway.
  if ! as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 120 \
      -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
    cat "$pg_dir/server.log" >&2
    exit 1
  fi
  export GIFTCERT_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  export PG_PORT="$port" PG_SOCKET_DIR="$pg_dir"
  echo "--- GIFTCERT_POSTGRES_URL=$GIFTCERT_POSTGRES_URL"
}

