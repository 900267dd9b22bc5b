#!/bin/bash
# Stops the cluster stack on this node only (pacemaker stops its resources
# cleanly first), then checks that PostgreSQL was shut down cleanly: a
# snapshot of a crashed primary would not start under PAF.
set -euo pipefail
cd /
limit=$((180 * ${TIME_FACTOR:-1}))
if ! timeout "$limit" systemctl stop pacemaker; then
    # Say what holds it up: the scheduler names the resource it waits on.
    echo "pacemaker on $(hostname) did not stop in $limit s; its last complaints:" >&2
    journalctl -u pacemaker --no-pager -o cat -n 500 | grep -E 'crit:|error:' | uniq | tail -n 3 >&2 || true
    exit 124
fi
systemctl stop corosync-qdevice corosync 2>/dev/null || true
state=$("$PG_BINDIR"/pg_controldata "$PG_DATADIR" | sed -n 's/^Database cluster state: *//p')
case "$state" in
    "shut down"|"shut down in recovery") ;;
    *) echo "PostgreSQL on $(hostname) is \"$state\", not cleanly shut down" >&2; exit 1 ;;
esac
