#!/bin/bash
# Runs once on every freshly cloned host (nodes and witness) before the
# `install` snapshot. Nothing of the cluster stack starts at boot: a node that
# rebooted must be checked and brought back by an operator (`pcs cluster
# start`), never rejoin on its own (no fence loops). pcsd neither: lab starts
# it with the cluster (cluster-start.sh), off the boot that every rollback
# waits for. Clones share everything, so each cluster node gets its own
# PostgreSQL cluster (its own system identifier); the witness runs no
# PostgreSQL.
set -euo pipefail
systemctl disable --now corosync pacemaker "$PG_SERVICE" corosync-qdevice pcsd 2>/dev/null
# pcsd's Ruby half (pcs 0.10 and later; RHEL 7's pcsd is one unit).
systemctl disable --now pcsd-ruby 2>/dev/null || true
# The package's example configuration: cluster-files.sh writes the real one.
rm -f /etc/corosync/corosync.conf
# pcsd and its Ruby half tell systemd when they are up; on emulated (TCG)
# hosts that took longer than systemd's 90 s and systemd killed them (seen
# as a failed pcsd-auth.sh). Their start may take TIME_FACTOR times longer.
for unit in pcsd pcsd-ruby; do
    mkdir -p "/etc/systemd/system/$unit.service.d"
    printf '[Service]\nTimeoutStartSec=%ss\n' "$((90 * TIME_FACTOR))" > "/etc/systemd/system/$unit.service.d/lab-timeout.conf"
done
systemctl daemon-reload
case " $NODE_NAMES " in
    *" $(hostname) "*) ;;
    *)
        # The witness runs only corosync-qnetd: whatever else a stack's
        # packages start at boot (Docker, the NFS server) stays off there.
        systemctl disable --now docker.service docker.socket containerd.service nfs-server.service sbd.service \
            >/dev/null 2>&1 || true
        echo "install: $(hostname) ready (no PostgreSQL)"
        exit 0
        ;;
esac
if [ "$FENCING" = sbd ]; then
    # Watchdog fencing: sbd feeds this node's own watchdog (QEMU's i6300esb)
    # while the node is healthy and quorate. Corosync requires sbd (its
    # package enables it so), so it starts and stops with the cluster.
    # q35's own TCO watchdog (iTCO_wdt) does not reset the VM (QEMU's
    # ICH9 "noreboot"), and whichever driver loads first is /dev/watchdog:
    # only the i6300esb may be there.
    echo "blacklist iTCO_wdt" > /etc/modprobe.d/lab-watchdog.conf
    modprobe -r iTCO_wdt 2>/dev/null || true
    [ -c /dev/watchdog ] || modprobe i6300esb 2>/dev/null || true
    udevadm settle
    if [ ! -c /dev/watchdog ] || ! grep -qx 'i6300ESB timer' /sys/class/watchdog/watchdog0/identity; then
        echo "no watchdog device (/dev/watchdog) on $(hostname): fencing = \"sbd\" needs the VM's i6300esb" >&2
        exit 1
    fi
    echo i6300esb > /etc/modules-load.d/lab-watchdog.conf
    # sbd's defaults, with the lab's watchdog timeout, stretched on emulated hosts.
    cat > /etc/default/sbd <<EOF
SBD_PACEMAKER=yes
SBD_STARTMODE=always
SBD_DELAY_START=no
SBD_WATCHDOG_DEV=/dev/watchdog
SBD_WATCHDOG_TIMEOUT=$((WATCHDOG_TIMEOUT_S * TIME_FACTOR))
SBD_TIMEOUT_ACTION=flush,reboot
SBD_MOVE_TO_ROOT_CGROUP=auto
SBD_SYNC_RESOURCE_STARTUP=yes
SBD_OPTS=
EOF
    systemctl enable sbd.service
else
    # The image has sbd, which its package has corosync require: without a
    # watchdog of its own a node must never start it.
    systemctl disable sbd.service >/dev/null 2>&1 || true
fi
eval "$PG_NEW_CLUSTER"
echo "install: $(hostname) ready, postgres system id $("$PG_BINDIR"/pg_controldata "$PG_DATADIR" | awk -F': *' '/system identifier/ {print $2}')"
