#!/bin/bash
# Prints the replicas streaming from this node's PostgreSQL, one per line.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
runuser -u postgres -- "$PG_BINDIR/psql" -p "$PG_PORT" -qAtc "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
