#!/bin/bash
# Redis in a Docker container (sourced after guest/cib.sh), in the stack's
# group on the DRBD primary, its append-only file on DRBD (seed 000).
redis_container_resources() { :; }
redis_container_group() {
    container redis lab/redis "--network host --user redis -v $STORAGE/redis:/data" "redis-server /data/redis.conf"
}
redis_container_constraints() { :; }
