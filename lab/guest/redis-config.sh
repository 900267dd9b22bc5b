#!/bin/bash
# Runs on every cluster node: Redis as Pacemaker manages it (ocf:heartbeat:redis
# starts it, makes one master and points the others at it). Reachable on the
# lab network with the per-lab password; every write goes to the append-only
# file before it is acknowledged.
set -euo pipefail
systemctl disable --now "$REDIS_SERVICE" >/dev/null 2>&1
conf=$REDIS_CONF
# Later lines win in redis.conf: append the lab's settings.
cat >> "$conf" <<CONF
# lab
bind 0.0.0.0
protected-mode no
port $REDIS_PORT
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
appendonly yes
appendfsync always
# A master waits this long for more replicas before it streams a snapshot
# (Redis 7: 5 s). Each master here has one replica to wait for; the wait only
# delayed every resync: the cluster's start and a restored node's rejoin.
repl-diskless-sync-delay 0
CONF
