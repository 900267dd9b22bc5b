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
    local id address
    while read -r id address; do
        vip "$id" "$address"
    done < <(replica_vips)
}

# Each replica VIP's id and address: pg-replica-vip, then pg-replica-vip-2
# and on for MORE_REPLICA_VIPS (Tuchanka's four-node cluster has one VIP
# per replica).
replica_vips() {
    echo "pg-replica-vip $REPLICA_VIP"
    local n=2 address
    for address in ${MORE_REPLICA_VIPS:-}; do
        echo "pg-replica-vip-$n $address"
        n=$((n + 1))
    done
}

postgres_constraints() {
    follows_master pg-master-vip pgsqld-clone
    # A replica VIP prefers a replica but follows the master when none is
    # left, so readers keep working on a lone survivor.
    local id address others=()
    while read -r id address; do
        echo "<rsc_colocation id=\"colocation-$id-pgsqld-clone-100\" rsc=\"$id\" with-rsc=\"pgsqld-clone\" with-rsc-role=\"$UNPROMOTED\" score=\"100\"/>
<rsc_colocation id=\"colocation-$id-pgsqld-clone-INFINITY\" rsc=\"$id\" with-rsc=\"pgsqld-clone\" score=\"INFINITY\"/>"
        # Several replica VIPs keep off each other's node while replicas
        # are left for them, as Tuchanka's third cluster spreads its two.
        local other
        for other in "${others[@]}"; do
            echo "<rsc_colocation id=\"colocation-$id-$other--1000\" rsc=\"$id\" with-rsc=\"$other\" score=\"-1000\"/>"
        done
        others+=("$id")
    done < <(replica_vips)
}
