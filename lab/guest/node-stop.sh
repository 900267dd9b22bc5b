#!/bin/bash
# Stops the cluster stack on this node only (pacemaker stops its resources
# cleanly first), then checks that PostgreSQL was shut down cleanly: a
# snapshot of a crashed primary would not start under PAF.
set -euo pipefail
cd /
timeout $((180 * ${TIME_FACTOR:-1})) systemctl stop pacemaker
systemctl stop corosync-qdevice corosync 2>/dev/null || true
state=$("$PG_BINDIR"/pg_controldata "$PG_DATADIR" | sed -n 's/^Database cluster state: *//p')
case "$state" in
    "shut down"|"shut down in recovery") ;;
    *) echo "PostgreSQL on $(hostname) is \"$state\", not cleanly shut down" >&2; exit 1 ;;
esac
