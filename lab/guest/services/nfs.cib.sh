#!/bin/bash
# NFS's part of the CIB (sourced after guest/cib.sh), last in the stack's
# group on the DRBD primary as its seed makes it (lab's NFS_* variables):
# the kernel NFS server with its state in $NFS_INFODIR on DRBD, the export
# of $NFS_EXPORT to $NFS_CLIENTS (else the lab subnet) and, where the seed
# has it (004), nfsnotify telling clients of a restart from the VIP.
nfs_resources() { :; }
nfs_group() {
    echo "<primitive id=\"nfs-daemon\" class=\"ocf\" provider=\"heartbeat\" type=\"nfsserver\">
  <instance_attributes id=\"nfs-daemon-instance_attributes\">$(nvpairs nfs-daemon-instance_attributes \
        nfs_shared_infodir="$NFS_INFODIR" nfs_no_notify=true)</instance_attributes>
  <operations>$(op nfs-daemon start 0s "$(t 40)")$(op nfs-daemon stop 0s "$(t 20)")$(op nfs-daemon monitor "$(every 10)" "$(t 20)")</operations>
</primitive>
<primitive id=\"nfs-root\" class=\"ocf\" provider=\"heartbeat\" type=\"exportfs\">
  <instance_attributes id=\"nfs-root-instance_attributes\">$(nvpairs nfs-root-instance_attributes \
        clientspec="${NFS_CLIENTS:-$SUBNET}" directory="$NFS_EXPORT" fsid="$NFS_FSID" options=rw,sync,no_root_squash)</instance_attributes>
  <operations>$(op nfs-root monitor "$(every 10)" "$(t 20)")</operations>
</primitive>"
    if [ -n "${NFS_NOTIFY:-}" ]; then
        echo "<primitive id=\"nfs-notify\" class=\"ocf\" provider=\"heartbeat\" type=\"nfsnotify\">
  <instance_attributes id=\"nfs-notify-instance_attributes\">$(nvpairs nfs-notify-instance_attributes source_host="$MASTER_VIP")</instance_attributes>
  <operations>$(op nfs-notify start 0s "$(t 90)")$(op nfs-notify stop 0s "$(t 90)")$(op nfs-notify monitor "$(every 30)" "$(t 90)")</operations>
</primitive>"
    fi
}
nfs_constraints() { :; }
