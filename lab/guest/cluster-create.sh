#!/bin/bash
# Runs on the first node once every node has corosync.conf and the keys
# (cluster-files.sh): start the two-node cluster and add the witness's
# corosync-qnetd as quorum device (ffsplit breaks a 50/50 split).
set -euo pipefail
# pcsd answers slowly on emulated (TCG) hosts: every wait scales with TIME_FACTOR.
pcs() { command pcs --request-timeout=$((60 * TIME_FACTOR)) "$@"; }
if [ "$CLUSTER_STACK" = pacemaker-1.1 ]; then
    pcs cluster auth $NODE_NAMES witness -u hacluster -p "$HACLUSTER_PASSWORD"
else
    pcs host auth $NODE_NAMES witness -u hacluster -p "$HACLUSTER_PASSWORD"
fi
pcs cluster start --all --wait=$((120 * TIME_FACTOR))
pcs quorum device add model net host=witness algorithm=ffsplit
