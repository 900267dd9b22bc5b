#!/bin/bash
# On the replicated storage (guest/storage.sh in front): the exported
# directory and the NFS server's state directory (clients' locks survive a
# failover with it).
mkdir -p "$NFS_EXPORT" "$NFS_INFODIR"
chmod 1777 "$NFS_EXPORT"
