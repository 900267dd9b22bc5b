#!/bin/bash
# Runs on every host (nodes and witness): the per-lab hacluster password lets
# `pcs host auth` talk to pcsd; the witness also serves the quorum device.
set -euo pipefail
echo "hacluster:$HACLUSTER_PASSWORD" | chpasswd
systemctl enable --now pcsd >/dev/null 2>&1
if [ "$(hostname)" = witness ]; then
    # Debian pre-initialises the qnetd certificate database: enabling is enough.
    systemctl enable --now corosync-qnetd >/dev/null 2>&1
fi
systemctl is-active --quiet pcsd
