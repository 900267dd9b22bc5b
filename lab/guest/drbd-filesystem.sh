#!/bin/bash
# Runs on the first node once every node's skydata is up (skyha): both
# sides are blank, so they are declared in sync without copying (DRBD's
# --clear-bitmap new-current-uuid), then the file system is made on the
# primary. Leaves both secondary: Pacemaker promotes one.
set -euo pipefail
for _ in $(seq $((60 * TIME_FACTOR))); do
    [ "$(drbdadm cstate skydata)" = Connected ] && break
    sleep 1
done
[ "$(drbdadm cstate skydata)" = Connected ] || { echo "drbd: skydata never connected to its peer: $(drbdadm cstate skydata)" >&2; exit 1; }
drbdadm -- --clear-bitmap new-current-uuid skydata
drbdadm primary skydata
mkfs.ext4 -q -L skydata /dev/drbd1
drbdadm secondary skydata
echo "drbd: skydata $(drbdadm dstate skydata), file system made"
