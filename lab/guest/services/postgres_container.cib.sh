#!/bin/bash
# PostgreSQL in a Docker container (sourced after guest/cib.sh), in the
# stack's group on the DRBD primary, its data directory on DRBD (seed 000).
postgres_container_resources() { :; }
postgres_container_group() {
    container postgres lab/postgres "--network host --user postgres -v $STORAGE/pg:/pgdata" \
        "$CONTAINER_PG_BINDIR/postgres -D /pgdata/data"
}
postgres_container_constraints() { :; }
