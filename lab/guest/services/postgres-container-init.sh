#!/bin/bash
# On the replicated storage (guest/storage.sh in front): a PostgreSQL data
# directory for its container, with the heartbeat role and database. The
# container is started once by hand for that, then removed: Pacemaker's
# docker agent runs it from now on.
data="$STORAGE/pg"
mkdir -p "$data"
docker run --rm --network none -v "$data:/pgdata" lab/postgres chown postgres:postgres /pgdata
docker run --rm --network none --user postgres -v "$data:/pgdata" lab/postgres \
    "$CONTAINER_PG_BINDIR/initdb" --pgdata=/pgdata/data --auth-local=trust --auth-host=scram-sha-256 >/dev/null
cat >> "$data/data/postgresql.conf" <<CONF
listen_addresses = '*'
port = $PG_PORT
# The image leaves LLVM out (lab's container images carry what runs).
jit = off
unix_socket_directories = '/tmp'
CONF
echo "host all all $SUBNET scram-sha-256" >> "$data/data/pg_hba.conf"
docker rm -f lab-setup-postgres >/dev/null 2>&1 || true
docker run -d --name lab-setup-postgres --network none --user postgres -v "$data:/pgdata" lab/postgres \
    "$CONTAINER_PG_BINDIR/postgres" -D /pgdata/data >/dev/null
trap 'docker rm -f lab-setup-postgres >/dev/null; storage_release' EXIT
psql() { docker exec -i lab-setup-postgres "$CONTAINER_PG_BINDIR/psql" -h /tmp -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
for _ in $(seq 60); do
    docker exec lab-setup-postgres "$CONTAINER_PG_BINDIR/pg_isready" -q -h /tmp -p "$PG_PORT" && break
    sleep 1
done
# Passwords go on stdin, never on a command line.
printf "CREATE ROLE heartbeat LOGIN PASSWORD '%s';\nCREATE DATABASE heartbeat OWNER heartbeat;\n" "$HEARTBEAT_PASSWORD" | psql -f -
printf 'SET ROLE heartbeat;\n%s\n' "$HEARTBEAT_SCHEMA" | psql -d heartbeat -f -
docker stop lab-setup-postgres >/dev/null
