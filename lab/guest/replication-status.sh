#!/bin/bash
# Prints the replicas streaming from this node's PostgreSQL, one per line.
set -euo pipefail
runuser -u postgres -- psql -p "$PG_PORT" -qAtc "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
