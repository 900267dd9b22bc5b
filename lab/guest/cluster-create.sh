#!/bin/bash
# Runs on the first node: the two-node corosync cluster with the witness's
# corosync-qnetd as quorum device (ffsplit breaks a 50/50 split).
set -euo pipefail
pcs host auth $NODE_NAMES witness -u hacluster -p "$HACLUSTER_PASSWORD"
pcs cluster setup "$CLUSTER_NAME" $NODE_ADDRS
pcs cluster start --all --wait=120
pcs quorum device add model net host=witness algorithm=ffsplit
