#!/bin/bash
# NFS's part of the CIB (sourced after guest/cib.sh), last in the stack's
# group on the DRBD primary as in seed 000: the kernel NFS server with its
# state on DRBD, and the export of $NFS_EXPORT (on DRBD) to the lab subnet.
nfs_resources() { :; }
nfs_group() {
    echo "<primitive id=\"nfs-daemon\" class=\"ocf\" provider=\"heartbeat\" type=\"nfsserver\">
  <instance_attributes id=\"nfs-daemon-instance_attributes\">$(nvpairs nfs-daemon-instance_attributes \
        nfs_shared_infodir="$STORAGE/nfsinfo" nfs_no_notify=true)</instance_attributes>
  <operations>$(op nfs-daemon start 0s "$(t 40)")$(op nfs-daemon stop 0s "$(t 20)")$(op nfs-daemon monitor "$(every 10)" "$(t 20)")</operations>
</primitive>
<primitive id=\"nfs-root\" class=\"ocf\" provider=\"heartbeat\" type=\"exportfs\">
  <instance_attributes id=\"nfs-root-instance_attributes\">$(nvpairs nfs-root-instance_attributes \
        clientspec="$SUBNET" directory="$NFS_EXPORT" fsid=1 options=rw,sync,no_root_squash)</instance_attributes>
  <operations>$(op nfs-root monitor "$(every 10)" "$(t 20)")</operations>
</primitive>"
}
nfs_constraints() { :; }
