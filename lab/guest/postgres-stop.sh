#!/bin/bash
# PAF starts PostgreSQL itself: the manual instance must be down.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_CONFDIR" -w -m fast stop >/dev/null 2>&1 || true
