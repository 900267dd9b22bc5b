#!/bin/bash
# Sourced in front of a set-up script that fills the replicated storage
# (skyha): outside the cluster, makes this node DRBD primary and mounts the
# file system at $STORAGE for the script, and undoes both when it exits
# (`storage_release`, for a script that sets its own EXIT trap).
# Pacemaker manages the storage once the cluster runs.
set -euo pipefail
drbdadm up skydata 2>/dev/null || true
drbdadm primary skydata
mkdir -p "$STORAGE"
mount /dev/drbd1 "$STORAGE"
storage_release() {
    umount "$STORAGE"
    drbdadm secondary skydata
}
trap storage_release EXIT
