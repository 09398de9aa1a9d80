# Sourced by the bench scripts: a throwaway PostgreSQL cluster on $port,
# with the platform schema applied and a `loader` role; stopped on exit.
# Expects $migrate (the binary) and $port.
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/migrate-bench-XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
as_pg "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/pg.log" -w start \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $pgdir -c shared_buffers=512MB -c max_wal_size=4GB" >/dev/null
trap 'as_pg "$bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null; rm -rf "$pgdir"' EXIT
admin="postgres://postgres@127.0.0.1:$port"
psql -X -q "$admin/postgres" -c "CREATE DATABASE bench"
DATABASE_URL="$admin/bench" "$migrate" schema apply >/dev/null
psql -X -q "$admin/bench" -c "CREATE ROLE loader LOGIN; GRANT platform_tenant TO loader;"
loader="postgres://loader@127.0.0.1:$port/bench"
