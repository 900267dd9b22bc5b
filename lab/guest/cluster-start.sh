#!/bin/bash
# Starts the cluster on every node (nothing starts at boot) and clears
# failures recorded before the snapshot.
set -euo pipefail
pcs --request-timeout=$((60 * TIME_FACTOR)) cluster start --all --wait=$((120 * TIME_FACTOR)) >/dev/null
pcs resource cleanup >/dev/null 2>&1 || true
