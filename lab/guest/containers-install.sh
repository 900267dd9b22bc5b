#!/bin/bash
# Runs on every cluster node at install (skyha): dockerd as measured to
# work in a lab (vfs storage, no iptables, no bridge: containers use the
# node's network), started at boot for Pacemaker's docker agent, and the
# images lab built offline (no registry is reachable) imported as lab/<name>.
set -euo pipefail
# The node's own PostgreSQL and Redis (installed with the common stack)
# would hold the ports the containers listen on, on the node's network.
systemctl disable --now "$PG_SERVICE" "$REDIS_SERVICE" >/dev/null 2>&1 || true
mkdir -p /etc/docker
echo '{"storage-driver": "vfs", "iptables": false, "bridge": "none"}' > /etc/docker/daemon.json
systemctl enable docker.service >/dev/null 2>&1
systemctl restart docker.service
for tarball in "$CONTAINER_TARBALLS"/*.tar; do
    docker import "$tarball" "lab/$(basename "$tarball" .tar)" >/dev/null
done
echo "install: $(hostname) docker images: $(docker images --format '{{.Repository}}' | sort | tr '\n' ' ')"
