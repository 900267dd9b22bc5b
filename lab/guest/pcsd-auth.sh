#!/bin/bash
# Runs on every host (nodes and witness): the per-lab hacluster password lets
# `pcs host auth` talk to pcsd; the witness also serves the quorum device.
set -euo pipefail
echo "hacluster:$HACLUSTER_PASSWORD" | chpasswd
# A start that failed at boot (a slow emulated host) is tried again.
systemctl reset-failed pcsd pcsd-ruby 2>/dev/null || true
# Started, not enabled: lab starts pcsd with the cluster (cluster-start.sh),
# off every boot's critical path.
systemctl start pcsd >/dev/null 2>&1 || systemctl restart pcsd
if [ "$(hostname)" = witness ]; then
    # Debian's package makes the qnetd certificate database, PGDG's and
    # RHEL's leave it to the administrator.
    [ -d /etc/corosync/qnetd/nssdb ] || corosync-qnetd-certutil -i >/dev/null
    systemctl enable --now corosync-qnetd >/dev/null 2>&1
fi
systemctl is-active --quiet pcsd || {
    echo "pcsd is not running on $(hostname): $(systemctl status --no-pager --lines=5 pcsd pcsd-ruby 2>&1 | tail -n 12)" >&2
    exit 1
}
