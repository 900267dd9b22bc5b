#!/bin/bash
# Runs on the first node once every node has corosync.conf and the keys
# (cluster-files.sh): start the cluster and, where QUORUM_DEVICE says
# `witness` (by default a cluster of an even number of nodes, as Tuchanka
# sets them up), add the witness's corosync-qnetd as quorum device (ffsplit
# breaks a 50/50 split).
set -euo pipefail
# pcsd answers slowly on emulated (TCG) hosts: every wait scales with TIME_FACTOR.
pcs() { command pcs --request-timeout=$((60 * TIME_FACTOR)) "$@"; }
# The password goes to pcs on stdin (pcs reads it from there when stdin is
# no terminal and -p is not given), never on its command line, where every
# user of the node (and of a container's host) could read it.
# shellcheck disable=SC2086 # NODE_NAMES is a list of names
auth() {
    local verb=host
    [ "$CLUSTER_STACK" != pacemaker-1.1 ] || verb=cluster
    printf '%s\n' "$HACLUSTER_PASSWORD" | pcs "$verb" auth $NODE_NAMES witness -u hacluster
}
# A pcsd still warming up on a loaded emulated host answers "Unable to
# communicate with pcsd" (seen once under TCG while the host was busy):
# try again before giving up.
for attempt in 1 2 3; do
    auth && break
    [ "$attempt" -lt 3 ] || exit 1
    echo "pcs auth failed (attempt $attempt of 3); retrying" >&2
    sleep $((10 * TIME_FACTOR))
done
device() {
    if [ "$QUORUM_DEVICE" != witness ]; then
        echo "no quorum device (cluster.quorum_device)" >&2
        return 0
    fi
    pcs quorum device add model net host=witness algorithm=ffsplit
}
if [ "$FENCING" = sbd ]; then
    # sbd reads corosync's quorum settings once, as it starts with corosync:
    # started before the device was added, it kept two_node's rule (both
    # nodes present, or this one is unhealthy) and reset the survivor of a
    # failover too. pcs adds the device to a stopped cluster as well.
    device
    pcs cluster start --all
else
    # The first start waits Pacemaker's default dc-deadtime (20 s: the CIB
    # that sets lab's own comes later) before a DC is elected; the quorum
    # device, which needs only corosync, is added meanwhile.
    pcs cluster start --all
    device
fi
# Then the DC, asked of Pacemaker here: `pcs cluster start --all --wait`
# asks every node's pcsd, minutes on emulated (TCG) hosts.
for _ in $(seq $((120 * TIME_FACTOR))); do
    state=$(crm_mon -1 2>/dev/null || true)
    if grep -q 'Current DC: ' <<<"$state" && ! grep -q 'Current DC: NONE' <<<"$state"; then
        exit 0
    fi
    sleep 1
done
echo "no DC was elected within $((120 * TIME_FACTOR)) s: $(crm_mon -1 2>&1 | head -n 5)" >&2
exit 1
