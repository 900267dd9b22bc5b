#!/bin/bash
# Runs on the first node: pcs writes corosync.conf for the nodes (knet over
# their lab addresses) in its local-only mode and prints it; lab places it,
# with the per-lab keys, on every node (cluster-files.sh). Local mode skips
# pcs's remote "destroy cluster" round trips, which take longer than pcsd's
# fixed 60 s request timeout on emulated (TCG) VMs.
set -euo pipefail
conf=$(mktemp -u)
if [ "$CLUSTER_STACK" = pacemaker-1.1 ]; then
    # pcs 0.9 and corosync 2 (udpu): the ring addresses are the host names,
    # which /etc/hosts gives their lab addresses.
    pcs cluster setup --local --corosync_conf="$conf" --name "$CLUSTER_NAME" $NODE_NAMES \
        --token "$TOKEN_MS" >/dev/null
else
    pcs cluster setup "$CLUSTER_NAME" $NODE_ADDRS totem token="$TOKEN_MS" --corosync_conf "$conf" >/dev/null
fi
cat "$conf"
rm -f "$conf"
