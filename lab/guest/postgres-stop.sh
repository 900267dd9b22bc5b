#!/bin/bash
# PAF starts PostgreSQL itself: the manual instance must be down.
set -euo pipefail
pg_ctlcluster "$PG_VERSION" main stop -m fast 2>/dev/null || true
