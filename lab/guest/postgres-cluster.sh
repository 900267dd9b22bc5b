#!/bin/bash
# Runs on every node of a stack with a second database: makes it beside the
# first (PG_ADD_CLUSTER, the distribution's way), on its own port, started
# by PAF only, like the first.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
if [ ! -e "$PG_CONFDIR/postgresql.conf" ]; then
    eval "$PG_ADD_CLUSTER"
fi
