#!/bin/bash
# Runs on every cluster node: PostgreSQL settings shared by a master and its
# replicas. Any node may become master or replica, so all get the same
# settings; a standby follows the master VIP, so replication survives failover.
set -euo pipefail
cd /  # runuser keeps the cwd; postgres cannot read /root
conf=$PG_CONFDIR
cat > "$conf/lab.conf" <<CONF
listen_addresses = '*'
port = $PG_PORT
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '512MB'
hot_standby = on
hot_standby_feedback = on
wal_sender_timeout = '5s'
wal_receiver_timeout = '5s'
wal_retrieve_retry_interval = '1s'
recovery_target_timeline = 'latest'
primary_conninfo = 'host=$MASTER_VIP port=$PG_PORT user=replicator application_name=$(hostname) connect_timeout=2 keepalives_idle=1 keepalives_interval=1 keepalives_count=3'
CONF
if [ "$PG_SYNCHRONOUS" = on ]; then
    # A commit returns once any replica has flushed it (PAF names each
    # standby after its node: application_name above).
    cat >> "$conf/lab.conf" <<CONF
synchronous_standby_names = '*'
synchronous_commit = on
CONF
fi
# Included last, so these win over the distribution's settings.
grep -qx "include 'lab.conf'" "$conf/postgresql.conf" || echo "include 'lab.conf'" >> "$conf/postgresql.conf"
# Never replicate from oneself: not through the master VIP, not through the
# node's own address (PAF's documented pg_hba rules).
cat >> "$conf/pg_hba.conf" <<HBA
# lab
host replication replicator $MASTER_VIP/32 reject
host replication replicator $NODE_ADDRESS/32 reject
host replication replicator $SUBNET scram-sha-256
host heartbeat heartbeat $SUBNET scram-sha-256
HBA
umask 077
echo "*:*:replication:replicator:$REPLICATION_PASSWORD" > "$PG_HOME/.pgpass"
chown postgres:postgres "$PG_HOME/.pgpass"
