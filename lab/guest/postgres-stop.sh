#!/bin/bash
# PAF starts PostgreSQL itself: the manual instance must be down.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
pg_ctlcluster "$PG_VERSION" main stop -m fast 2>/dev/null || true
