#!/bin/bash
# On the replicated storage (guest/storage.sh in front): the exported
# directory and the NFS server's state directory (clients' locks survive a
# failover with it).
mkdir -p "$STORAGE/nfsshare/exports" "$STORAGE/nfsinfo"
chmod 1777 "$STORAGE/nfsshare/exports"
