#!/bin/bash
# Runs on the first node once every node's DRBD resource is up: both sides
# are blank, so they are declared in sync without copying (DRBD's
# --clear-bitmap new-current-uuid), then the file system ($DRBD_FSTYPE) is
# made on the primary. Leaves both secondary: Pacemaker promotes one.
set -euo pipefail
r=$DRBD_RESOURCE
for _ in $(seq $((60 * TIME_FACTOR))); do
    [ "$(drbdadm cstate "$r")" = Connected ] && break
    sleep 1
done
[ "$(drbdadm cstate "$r")" = Connected ] || { echo "drbd: $r never connected to its peer: $(drbdadm cstate "$r")" >&2; exit 1; }
drbdadm -- --clear-bitmap new-current-uuid "$r"
drbdadm primary "$r"
# Labels: xfs takes 12 characters at most.
case $DRBD_FSTYPE in
    xfs) mkfs.xfs -q -f -L "${r:0:12}" "$DRBD_DEVICE" ;;
    *) mkfs.ext4 -q -L "${r:0:16}" "$DRBD_DEVICE" ;;
esac
drbdadm secondary "$r"
echo "drbd: $r $(drbdadm dstate "$r"), $DRBD_FSTYPE file system made"
