#!/bin/bash
# Sourced in front of a set-up script that fills the replicated storage
# (stacks on DRBD): outside the cluster, makes this node DRBD primary and
# mounts the file system at $STORAGE for the script, and undoes both when
# it exits (`storage_release`, for a script that sets its own EXIT trap).
# Pacemaker manages the storage once the cluster runs.
set -euo pipefail
drbdadm up "$DRBD_RESOURCE" 2>/dev/null || true
drbdadm primary "$DRBD_RESOURCE"
mkdir -p "$STORAGE"
mount "$DRBD_DEVICE" "$STORAGE"
storage_release() {
    umount "$STORAGE"
    drbdadm secondary "$DRBD_RESOURCE"
}
trap storage_release EXIT
