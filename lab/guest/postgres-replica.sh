#!/bin/bash
# Runs on a node that must (re)join as a replica: its data directory is thrown
# away and copied from the current master, as Tuchanka's `restore` scripts do.
# Used at setup and to bring a failed node back after a fault.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
data=/var/lib/postgresql/$PG_VERSION/main
pg_ctlcluster "$PG_VERSION" main stop -m immediate 2>/dev/null || true
find "$data" -mindepth 1 -delete
runuser -u postgres -- pg_basebackup -h "$MASTER_ADDRESS" -p "$PG_PORT" -U replicator -D "$data" -X stream -c fast
runuser -u postgres -- touch "$data/standby.signal"
