#!/bin/bash
# Runs on every host (nodes and witness): the per-lab hacluster password lets
# `pcs host auth` talk to pcsd; the witness also serves the quorum device.
set -euo pipefail
echo "hacluster:$HACLUSTER_PASSWORD" | chpasswd
systemctl enable --now pcsd >/dev/null 2>&1
if [ "$(hostname)" = witness ]; then
    # Debian's package makes the qnetd certificate database, PGDG's and
    # RHEL's leave it to the administrator.
    [ -d /etc/corosync/qnetd/nssdb ] || corosync-qnetd-certutil -i >/dev/null
    systemctl enable --now corosync-qnetd >/dev/null 2>&1
fi
systemctl is-active --quiet pcsd
