#!/bin/bash
# Runs on every node at once (or on one node rejoining): starts the cluster,
# nothing of which starts at boot, with the units `pcs cluster start` starts
# (corosync, the quorum device's client if there is one, pacemaker) but
# without pcs's second of Python start-up on each node. A live snapshot (VMs)
# resumes with the cluster already running: then the first node only clears
# the failures recorded before the snapshot. lab then waits until the
# cluster is healthy.
set -euo pipefail
# pcsd, pcs's way to the other nodes (`pcs cluster stop --all`, an operator's
# `pcs status` everywhere), does not start at boot either: its Ruby and
# Python halves took 3.5 s of every rollback's boot. It starts now, aside.
systemctl start --no-block pcsd
if ! systemctl is-active --quiet pacemaker; then
    units=corosync
    if grep -Eq '^[[:space:]]*device[[:space:]]*\{' /etc/corosync/corosync.conf; then
        units="$units corosync-qdevice"
    fi
    # shellcheck disable=SC2086 # a list of units
    systemctl start $units pacemaker
elif [ "$(hostname)" = "${NODE_NAMES%% *}" ]; then
    crm_resource --cleanup >/dev/null 2>&1 || true
fi
