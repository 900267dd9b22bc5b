#!/bin/bash
# Runs on a node out of the cluster whose DRBD split-brained (StandAlone):
# reconnects it as the side whose changes are thrown away, so it resyncs
# from the primary, as seed 000's operator guide does.
set -uo pipefail
drbdadm up skydata 2>/dev/null
drbdadm secondary skydata
drbdadm disconnect skydata 2>/dev/null
drbdadm -- --discard-my-data connect skydata
echo "drbd: $(hostname) skydata $(drbdadm cstate skydata)"
