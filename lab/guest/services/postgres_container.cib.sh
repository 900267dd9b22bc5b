#!/bin/bash
# PostgreSQL in a Docker container (sourced after guest/cib.sh), in the
# stack's group on the DRBD primary, its data directory on DRBD (seed 000).
# Stopped with SIGINT (PostgreSQL's fast shutdown), as PostgreSQL's own
# images do: docker's default SIGTERM is a smart shutdown, which waits for
# every client (the probes) to leave, until docker kills it.
postgres_container_resources() { :; }
postgres_container_group() {
    container postgres lab/postgres "--network host --user postgres --stop-signal SIGINT -v $STORAGE/pg:/pgdata" \
        "$CONTAINER_PG_BINDIR/postgres -D /pgdata/data"
}
postgres_container_constraints() { :; }
