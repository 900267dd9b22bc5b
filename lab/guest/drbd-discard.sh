#!/bin/bash
# Runs on a node out of the cluster whose DRBD split-brained (StandAlone):
# reconnects it as the side whose changes are thrown away, so it resyncs
# from the primary, as the seeds' operator guides do.
set -uo pipefail
r=$DRBD_RESOURCE
drbdadm up "$r" 2>/dev/null
drbdadm secondary "$r"
drbdadm disconnect "$r" 2>/dev/null
drbdadm -- --discard-my-data connect "$r"
echo "drbd: $(hostname) $r $(drbdadm cstate "$r")"
