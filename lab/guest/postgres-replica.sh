#!/bin/bash
# Runs on a node that must (re)join as a replica: its data directory is thrown
# away and copied from the current master, as Tuchanka's `restore` scripts do.
# Used at setup and to bring a failed node back after a fault.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
data=$PG_DATADIR
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_CONFDIR" -w -m immediate stop >/dev/null 2>&1 || true
find "$data" -mindepth 1 -delete
runuser -u postgres -- "$PG_BINDIR/pg_basebackup" -h "$MASTER_ADDRESS" -p "$PG_PORT" -U replicator -D "$data" -X stream -c fast
runuser -u postgres -- touch "$data/standby.signal"
