#!/bin/bash
# PostgreSQL's part of the CIB (sourced after guest/cib.sh): PAF's
# promotable clone of each database cluster and the VIPs that follow it.
# - postgres: Tuchanka's second cluster: a master VIP and replica VIPs.
# - postgres_at_home, postgres_b: Tuchanka's first cluster, two databases
#   consolidated on two nodes: each its master VIP only, and its master at
#   home on its own node (the first's on the first node, the second's on
#   the second), so that each node serves one database while both run.

# One database cluster under PAF: its promotable clone.
paf_clone() { # primitive confdir datadir port
    echo "<$PROMOTABLE id=\"$1-clone\">
<primitive id=\"$1\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsqlms\">
  <instance_attributes id=\"$1-instance_attributes\">$(nvpairs "$1-instance_attributes" \
        bindir="$PG_BINDIR" pgdata="$2" datadir="$3" pghost=/var/run/postgresql pgport="$4")</instance_attributes>
  $(PROMOTE_S=30 DEMOTE_S=120 stateful_ops "$1")
</primitive>
$(promotable "$1")
</$PROMOTABLE>"
}

# Tuchanka's rule for a consolidated database: its master prefers its home
# node (score 100) unless that node is its master already (PAF scores the
# running master 1001), so a master that failed over returns home once the
# home node is a replica again.
at_home() { # clone primitive node
    local id="location-$1-home"
    echo "<rsc_location id=\"$id\" rsc=\"$1\">
<rule id=\"$id-rule\" role=\"$PROMOTED\" score=\"100\" boolean-op=\"and\">
  <expression id=\"$id-rule-expr\" attribute=\"#uname\" operation=\"eq\" type=\"string\" value=\"$3\"/>
  <expression id=\"$id-rule-expr-1\" attribute=\"master-$2\" operation=\"ne\" type=\"number\" value=\"1001\"/>
</rule>
</rsc_location>"
}

# The second database's directories: beside the first's, under its name.
second_confdir() { echo "${PG_CONFDIR%/*}/$PG_B_CLUSTER"; }
second_datadir() { echo "${PG_DATADIR%/*}/$PG_B_CLUSTER"; }

postgres_resources() {
    paf_clone pgsqld "$PG_CONFDIR" "$PG_DATADIR" "$PG_PORT"
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

postgres_at_home_resources() {
    paf_clone pgsqld "$PG_CONFDIR" "$PG_DATADIR" "$PG_PORT"
    vip pg-master-vip "$MASTER_VIP"
}

postgres_at_home_constraints() {
    follows_master pg-master-vip pgsqld-clone
    # shellcheck disable=SC2086 # NODE_NAMES is a list of names
    set -- $NODE_NAMES
    at_home pgsqld-clone pgsqld "$1"
}

postgres_b_resources() {
    paf_clone pgsqld-b "$(second_confdir)" "$(second_datadir)" "$PG_B_PORT"
    vip pg-b-master-vip "$SECOND_MASTER_VIP"
}

postgres_b_constraints() {
    follows_master pg-b-master-vip pgsqld-b-clone
    # shellcheck disable=SC2086 # NODE_NAMES is a list of names
    set -- $NODE_NAMES
    at_home pgsqld-b-clone pgsqld-b "$2"
}
