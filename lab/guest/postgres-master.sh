#!/bin/bash
# Runs on the first node: starts PostgreSQL by hand once to create the
# replication role and the heartbeat database, then stops it for PAF.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_CONFDIR" -w -l "$PG_HOME/lab-setup.log" start >/dev/null
# No replica exists yet: with synchronous replication configured, these
# commits would wait for one forever.
export PGOPTIONS='-c synchronous_commit=local'
psql() { runuser -u postgres -- "$PG_BINDIR/psql" -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
# Passwords go to psql on stdin (printf is bash's own), never on a command line.
printf "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '%s';\nCREATE ROLE heartbeat LOGIN PASSWORD '%s';\n" \
    "$REPLICATION_PASSWORD" "$HEARTBEAT_PASSWORD" | psql -f -
psql -c "CREATE DATABASE heartbeat OWNER heartbeat"
printf '%s\n' "$HEARTBEAT_SCHEMA" | psql -d heartbeat -c "SET ROLE heartbeat" -f -
