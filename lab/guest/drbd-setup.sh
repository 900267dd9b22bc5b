#!/bin/bash
# Runs on every cluster node of a stack on DRBD: the DRBD resource
# $DRBD_RESOURCE ($DRBD_DEVICE) on a sparse loop file, as seed 000 does (its
# /dev/loop9), protocol C, with DRBD's own Pacemaker fencing so that a
# primary cut off from its peer cannot be promoted twice. Leaves it up and
# waiting for its peer. DRBD_PEERS: `name=address ...` of the nodes;
# DRBD_PORT: where they replicate; DRBD_SIZE_MB: its size.
set -euo pipefail
file=/var/lib/lab-drbd/$DRBD_RESOURCE.img
mkdir -p "$(dirname "$file")"
truncate -s "${DRBD_SIZE_MB}M" "$file"
# The loop device exists before anything of the cluster starts, at every boot.
cat > /etc/systemd/system/lab-drbd-loop.service <<UNIT
[Unit]
Description=lab: loop device backing DRBD resource $DRBD_RESOURCE
DefaultDependencies=no
After=local-fs.target
Before=corosync.service pacemaker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=-/bin/sh -c '[ -e /dev/loop9 ] || mknod /dev/loop9 b 7 9'
ExecStart=/sbin/losetup /dev/loop9 $file
ExecStop=/sbin/losetup -d /dev/loop9

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now lab-drbd-loop.service >/dev/null 2>&1
modprobe drbd
{
    echo "resource $DRBD_RESOURCE {"
    echo "  protocol C;"
    echo "  device $DRBD_DEVICE;"
    echo "  disk /dev/loop9;"
    echo "  meta-disk internal;"
    echo "  disk { fencing resource-only; }"
    echo "  handlers {"
    echo "    fence-peer \"/usr/lib/drbd/crm-fence-peer.sh\";"
    echo "    after-resync-target \"/usr/lib/drbd/crm-unfence-peer.sh\";"
    echo "  }"
    echo "  net { after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect; }"
    for peer in $DRBD_PEERS; do
        echo "  on ${peer%%=*} { address ${peer#*=}:$DRBD_PORT; }"
    done
    echo "}"
} > "/etc/drbd.d/$DRBD_RESOURCE.res"
# DRBD 8.4 (Debian's kernel) takes options for its tools after `--`.
drbdadm -- --force create-md "$DRBD_RESOURCE" </dev/null >/dev/null
drbdadm up "$DRBD_RESOURCE"
echo "drbd: $(hostname) $DRBD_RESOURCE up, $(drbdadm cstate "$DRBD_RESOURCE")"
