#!/bin/bash
# Runs on the first node: fencing, the PAF-managed PostgreSQL and its two
# floating IPs, as in Tuchanka's second cluster, and Redis with its VIP. Built in a CIB file and pushed
# at once so the cluster never acts on half a configuration.
set -euo pipefail
# Operation timeouts are for native speed; emulated (TCG) hosts get them
# multiplied by TIME_FACTOR. Monitor intervals stay: they set detection time.
t() { echo "$(($1 * TIME_FACTOR))s"; }
cib=$(mktemp)
pcs cluster cib "$cib"
pcs -f "$cib" property set stonith-enabled=true
pcs -f "$cib" resource defaults update resource-stickiness=10 migration-threshold=1
# Operations without their own timeout (IPaddr2, fence_lab) get the default
# 20 s, stretched too.
pcs -f "$cib" resource op defaults update timeout="$(t 20)"
for node in $NODE_NAMES; do
    pcs -f "$cib" stonith create "fence-$node" fence_lab port="$node" pcmk_host_list="$node" op monitor interval=60s
    pcs -f "$cib" constraint location "fence-$node" avoids "$node"
done
pcs -f "$cib" resource create pgsqld ocf:heartbeat:pgsqlms \
    bindir=/usr/lib/postgresql/$PG_VERSION/bin pgdata=/etc/postgresql/$PG_VERSION/main \
    datadir=/var/lib/postgresql/$PG_VERSION/main pghost=/var/run/postgresql pgport="$PG_PORT" \
    op start timeout="$(t 60)" op stop timeout="$(t 60)" op promote timeout="$(t 30)" op demote timeout="$(t 120)" \
    op monitor interval=5s timeout="$(t 10)" role=Promoted \
    op monitor interval=6s timeout="$(t 10)" role=Unpromoted \
    op notify timeout="$(t 60)" \
    promotable notify=true
pcs -f "$cib" resource create pg-master-vip ocf:heartbeat:IPaddr2 ip="$MASTER_VIP" cidr_netmask="$PREFIX" op monitor interval=5s
pcs -f "$cib" constraint colocation add pg-master-vip with Promoted pgsqld-clone INFINITY
pcs -f "$cib" constraint order promote pgsqld-clone then start pg-master-vip symmetrical=false kind=Mandatory
pcs -f "$cib" constraint order demote pgsqld-clone then stop pg-master-vip symmetrical=false kind=Mandatory
# The replica VIP prefers a replica but follows the master when none is left,
# so readers keep working on a lone survivor.
pcs -f "$cib" resource create pg-replica-vip ocf:heartbeat:IPaddr2 ip="$REPLICA_VIP" cidr_netmask="$PREFIX" op monitor interval=5s
pcs -f "$cib" constraint colocation add pg-replica-vip with Unpromoted pgsqld-clone 100
pcs -f "$cib" constraint colocation add pg-replica-vip with pgsqld-clone INFINITY
# Redis: a promotable clone managed by the redis agent, its master behind
# its own VIP.
pcs -f "$cib" resource create redisd ocf:heartbeat:redis config=/etc/redis/redis.conf port="$REDIS_PORT" \
    op start timeout="$(t 60)" op stop timeout="$(t 60)" op promote timeout="$(t 60)" op demote timeout="$(t 60)" \
    op monitor interval=5s timeout="$(t 10)" role=Promoted \
    op monitor interval=6s timeout="$(t 10)" role=Unpromoted \
    op notify timeout="$(t 60)" \
    promotable notify=true
pcs -f "$cib" resource create redis-master-vip ocf:heartbeat:IPaddr2 ip="$REDIS_VIP" cidr_netmask="$PREFIX" op monitor interval=5s
pcs -f "$cib" constraint colocation add redis-master-vip with Promoted redisd-clone INFINITY
pcs -f "$cib" constraint order promote redisd-clone then start redis-master-vip symmetrical=false kind=Mandatory
pcs -f "$cib" constraint order demote redisd-clone then stop redis-master-vip symmetrical=false kind=Mandatory
pcs cluster cib-push "$cib"
rm -f "$cib"
