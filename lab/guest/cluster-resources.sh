#!/bin/bash
# Runs on the first node: fencing, the PAF-managed PostgreSQL and its two
# floating IPs, as in Tuchanka's second cluster, and Redis with its VIP.
# Written as CIB XML into a copy of the CIB (CIB_file points every Pacemaker
# tool at it) and pushed at once, so the cluster never acts on half a
# configuration. Pacemaker's own tools, not pcs: each pcs call costs seconds
# of Python start-up, minutes in all on emulated hosts.
set -euo pipefail
# Operation timeouts are for native speed; emulated (TCG) hosts get them
# multiplied by TIME_FACTOR. Monitor intervals stay: they set detection time.
t() { echo "$(($1 * TIME_FACTOR))s"; }
# Pacemaker 1.1 (RHEL 7) names a promotable clone `<master>` and its roles
# Master/Slave; its schema rejects Promoted/Unpromoted.
if [ "$CLUSTER_STACK" = pacemaker-1.1 ]; then
    PROMOTABLE=master PROMOTED=Master UNPROMOTED=Slave
else
    PROMOTABLE=clone PROMOTED=Promoted UNPROMOTED=Unpromoted
fi
# One <op>; ids follow pcs's pattern <resource>-<action>-interval-<interval>.
op() { # resource action interval timeout [role]
    local id="$1-$2-interval-$3${5:+-$5}"
    echo "<op id=\"$id\" name=\"$2\" interval=\"$3\" timeout=\"$4\"${5:+ role=\"$5\"}/>"
}
nvpairs() { # id-prefix name=value...
    local prefix=$1 pair; shift
    for pair in "$@"; do
        echo "<nvpair id=\"$prefix-${pair%%=*}\" name=\"${pair%%=*}\" value=\"${pair#*=}\"/>"
    done
}
promotable() { # resource
    local meta=(notify=true)
    [ "$PROMOTABLE" = master ] || meta+=(promotable=true)
    echo "<meta_attributes id=\"$1-clone-meta_attributes\">$(nvpairs "$1-clone-meta_attributes" "${meta[@]}")</meta_attributes>"
}
stateful_ops() { # resource
    echo "<operations>"
    op "$1" start 0s "$(t 60)"; op "$1" stop 0s "$(t 60)"
    op "$1" promote 0s "$(t "${PROMOTE_S:-60}")"; op "$1" demote 0s "$(t "${DEMOTE_S:-60}")"
    op "$1" monitor 5s "$(t 10)" "$PROMOTED"; op "$1" monitor 6s "$(t 10)" "$UNPROMOTED"
    op "$1" notify 0s "$(t 60)"
    echo "</operations>"
}
vip() { # id address
    echo "<primitive id=\"$1\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\">
  <instance_attributes id=\"$1-instance_attributes\">$(nvpairs "$1-instance_attributes" ip="$2" cidr_netmask="$PREFIX")</instance_attributes>
  <operations>$(op "$1" monitor 5s "$(t 20)")</operations>
</primitive>"
}
# The VIP follows the master: only where the clone is promoted, only after
# the promotion, and gone before a demotion.
follows_master() { # vip clone
    echo "<rsc_colocation id=\"colocation-$1-$2-INFINITY\" rsc=\"$1\" with-rsc=\"$2\" with-rsc-role=\"$PROMOTED\" score=\"INFINITY\"/>
<rsc_order id=\"order-$2-$1-promote\" first=\"$2\" first-action=\"promote\" then=\"$1\" then-action=\"start\" symmetrical=\"false\" kind=\"Mandatory\"/>
<rsc_order id=\"order-$2-$1-demote\" first=\"$2\" first-action=\"demote\" then=\"$1\" then-action=\"stop\" symmetrical=\"false\" kind=\"Mandatory\"/>"
}

resources() {
    for node in $NODE_NAMES; do
        echo "<primitive id=\"fence-$node\" class=\"stonith\" type=\"fence_lab\">
  <instance_attributes id=\"fence-$node-instance_attributes\">$(nvpairs "fence-$node-instance_attributes" port="$node" pcmk_host_list="$node")</instance_attributes>
  <operations>$(op "fence-$node" monitor 60s "$(t 20)")</operations>
</primitive>"
    done
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
    # Redis: a promotable clone managed by the redis agent, its master behind
    # its own VIP.
    echo "<$PROMOTABLE id=\"redisd-clone\">
<primitive id=\"redisd\" class=\"ocf\" provider=\"heartbeat\" type=\"redis\">
  <instance_attributes id=\"redisd-instance_attributes\">$(nvpairs redisd-instance_attributes config="$REDIS_CONF" port="$REDIS_PORT")</instance_attributes>
  $(stateful_ops redisd)
</primitive>
$(promotable redisd)
</$PROMOTABLE>"
    vip redis-master-vip "$REDIS_VIP"
}

constraints() {
    for node in $NODE_NAMES; do
        echo "<rsc_location id=\"location-fence-$node-$node--INFINITY\" rsc=\"fence-$node\" node=\"$node\" score=\"-INFINITY\"/>"
    done
    follows_master pg-master-vip pgsqld-clone
    # The replica VIP prefers a replica but follows the master when none is
    # left, so readers keep working on a lone survivor.
    echo "<rsc_colocation id=\"colocation-pg-replica-vip-pgsqld-clone-100\" rsc=\"pg-replica-vip\" with-rsc=\"pgsqld-clone\" with-rsc-role=\"$UNPROMOTED\" score=\"100\"/>
<rsc_colocation id=\"colocation-pg-replica-vip-pgsqld-clone-INFINITY\" rsc=\"pg-replica-vip\" with-rsc=\"pgsqld-clone\" score=\"INFINITY\"/>"
    follows_master redis-master-vip redisd-clone
}

cib=$(mktemp)
trap 'rm -f "$cib" "$cib.configuration"' EXIT
cibadmin --query > "$cib"
(
    export CIB_file=$cib
    crm_attribute --type crm_config --name stonith-enabled --update true
    cibadmin --create --scope configuration --xml-text "<rsc_defaults><meta_attributes id=\"rsc_defaults-meta_attributes\">$(
        nvpairs rsc_defaults-meta_attributes resource-stickiness=10 migration-threshold=1)</meta_attributes></rsc_defaults>"
    # Operations without their own timeout get the default 20 s, stretched too.
    cibadmin --create --scope configuration --xml-text "<op_defaults><meta_attributes id=\"op_defaults-meta_attributes\">$(
        nvpairs op_defaults-meta_attributes timeout="$(t 20)")</meta_attributes></op_defaults>"
    cibadmin --replace --scope resources --xml-text "<resources>$(resources)</resources>"
    cibadmin --replace --scope constraints --xml-text "<constraints>$(constraints)</constraints>"
    cibadmin --query --scope configuration > "$cib.configuration"
)
crm_verify --xml-file "$cib"
cibadmin --replace --scope configuration --xml-file "$cib.configuration"
