#!/bin/bash
# PostgreSQL's part of the CIB (sourced after guest/cib.sh): PAF's
# promotable clone and its two floating IPs, as in Tuchanka's second cluster.
postgres_resources() {
    echo "<$PROMOTABLE id=\"pgsqld-clone\">
<primitive id=\"pgsqld\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsqlms\">
  <instance_attributes id=\"pgsqld-instance_attributes\">$(nvpairs pgsqld-instance_attributes \
        bindir="$PG_BINDIR" pgdata="$PG_CONFDIR" datadir="$PG_DATADIR" pghost=/var/run/postgresql pgport="$PG_PORT")</instance_attributes>
  $(PROMOTE_S=30 DEMOTE_S=120 stateful_ops pgsqld)
</primitive>
$(promotable pgsqld)
</$PROMOTABLE>"
    vip pg-master-vip "$MASTER_VIP"
    vip pg-replica-vip "$REPLICA_VIP"
}

postgres_constraints() {
    follows_master pg-master-vip pgsqld-clone
    # The replica VIP prefers a replica but follows the master when none is
    # left, so readers keep working on a lone survivor.
    echo "<rsc_colocation id=\"colocation-pg-replica-vip-pgsqld-clone-100\" rsc=\"pg-replica-vip\" with-rsc=\"pgsqld-clone\" with-rsc-role=\"$UNPROMOTED\" score=\"100\"/>
<rsc_colocation id=\"colocation-pg-replica-vip-pgsqld-clone-INFINITY\" rsc=\"pg-replica-vip\" with-rsc=\"pgsqld-clone\" score=\"INFINITY\"/>"
}
