#!/bin/bash
# On the replicated storage (guest/storage.sh in front): Redis's directory
# and configuration for its container. Reachable on the lab network with the
# per-lab password; every write goes to the append-only file (on DRBD,
# replicated with protocol C) before it is acknowledged.
mkdir -p "$STORAGE/redis"
umask 077
cat > "$STORAGE/redis/redis.conf" <<CONF
bind 0.0.0.0
protected-mode no
port $REDIS_PORT
requirepass $REDIS_PASSWORD
dir /data
appendonly yes
appendfsync always
CONF
# The image's redis user owns the directory (its uid is the image's).
docker run --rm --network none -v "$STORAGE/redis:/data" lab/redis chown -R redis:redis /data
