#!/bin/bash
# Runs on every node: the cluster's configuration and keys, as `pcs cluster
# setup` would distribute them. The keys are generated per lab on the host
# (secrets/, 0600) and passed in the environment, never stored in a script.
set -euo pipefail
install -d -m 0755 /etc/corosync
printf '%s\n' "$COROSYNC_CONF" > /etc/corosync/corosync.conf
(umask 077; printf '%s' "$COROSYNC_KEY" > /etc/corosync/authkey)
chmod 0400 /etc/corosync/authkey
install -d -m 0750 -o root -g haclient /etc/pacemaker
(umask 027; printf '%s' "$PACEMAKER_KEY" > /etc/pacemaker/authkey)
chown hacluster:haclient /etc/pacemaker/authkey
chmod 0640 /etc/pacemaker/authkey
