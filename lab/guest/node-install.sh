#!/bin/bash
# Runs once on every freshly cloned host (nodes and witness) before the
# `install` snapshot. Clones share everything, so each host gets its own
# PostgreSQL cluster (its own system identifier), and nothing of the cluster
# stack starts at boot: a node that rebooted must be checked and brought back
# by an operator (`pcs cluster start`), never rejoin on its own (no fence loops).
set -euo pipefail
systemctl disable --now corosync pacemaker postgresql corosync-qdevice 2>/dev/null
pcs cluster destroy >/dev/null
pg_dropcluster --stop "$PG_VERSION" main
pg_createcluster "$PG_VERSION" main >/dev/null
echo "install: $(hostname) ready, postgres system id $(/usr/lib/postgresql/"$PG_VERSION"/bin/pg_controldata /var/lib/postgresql/"$PG_VERSION"/main | awk -F': *' '/system identifier/ {print $2}')"
