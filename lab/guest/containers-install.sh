#!/bin/bash
# Runs on every cluster node at install (skyha): dockerd without iptables or
# a bridge (containers use the node's network, where the VIP is), overlay2
# storage on the node's own ext4 (a container shares its image's files
# instead of copying them, as vfs would on every start, a failover included),
# started at boot for Pacemaker's docker agent, and the images lab built
# offline (no registry is reachable) imported as lab/<name>.
set -euo pipefail
# The node's own PostgreSQL and Redis (installed with the common stack)
# would hold the ports the containers listen on, on the node's network.
systemctl disable --now "$PG_SERVICE" "$REDIS_SERVICE" >/dev/null 2>&1 || true
mkdir -p /etc/docker
echo '{"storage-driver": "overlay2", "iptables": false, "bridge": "none"}' > /etc/docker/daemon.json
systemctl enable docker.service >/dev/null 2>&1
systemctl restart docker.service
for tarball in "$CONTAINER_TARBALLS"/*.tar; do
    docker import "$tarball" "lab/$(basename "$tarball" .tar)" >/dev/null
done
echo "install: $(hostname) docker images: $(docker images --format '{{.Repository}}' | sort | tr '\n' ' ')"
