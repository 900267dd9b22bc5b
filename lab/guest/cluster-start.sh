#!/bin/bash
# Starts the cluster on every node (nothing starts at boot) and clears
# failures recorded before the snapshot. A live snapshot (VMs) resumes with
# the cluster already running: then only the failures are cleared.
set -euo pipefail
if ! systemctl is-active --quiet pacemaker; then
    pcs --request-timeout=$((60 * TIME_FACTOR)) cluster start --all --wait=$((120 * TIME_FACTOR)) >/dev/null
fi
crm_resource --cleanup >/dev/null 2>&1 || true
