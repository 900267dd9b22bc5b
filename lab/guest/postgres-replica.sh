#!/bin/bash
# Runs on a node that must (re)join as a replica: its data directory is thrown
# away and copied from the current master, as Tuchanka's `restore` scripts do.
# Used at setup and to bring a failed node back after a fault.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
data=$PG_DATADIR
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_CONFDIR" -w -m immediate stop >/dev/null 2>&1 || true
# Where the configuration lives in the data directory (PGDG), the copy would
# bring the master's (its application_name among others): keep this node's.
own=$(mktemp -d)
for file in postgresql.conf pg_hba.conf lab.conf; do
    if [ -e "$data/$file" ]; then cp -p "$data/$file" "$own/"; fi
done
find "$data" -mindepth 1 -delete
runuser -u postgres -- "$PG_BINDIR/pg_basebackup" -h "$MASTER_ADDRESS" -p "$PG_PORT" -U replicator -D "$data" -X stream -c fast
find "$own" -mindepth 1 -exec cp -p {} "$data/" \;
rm -rf "$own"
runuser -u postgres -- touch "$data/standby.signal"
