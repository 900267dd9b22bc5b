#!/bin/bash
# MariaDB's part of the CIB (sourced after guest/cib.sh), last in the
# stack's group on the DRBD primary as seed 003's p_mysql: the
# ocf:heartbeat:mysql agent runs Debian's MariaDB on the data directory
# DRBD holds, listening on the VIP.
mariadb_resources() { :; }
mariadb_group() {
    echo "<primitive id=\"p_mysql\" class=\"ocf\" provider=\"heartbeat\" type=\"mysql\">
  <instance_attributes id=\"p_mysql-instance_attributes\">$(nvpairs p_mysql-instance_attributes \
        config=/etc/mysql/my.cnf datadir="$STORAGE" user=mysql group=mysql \
        pid=/run/mysqld/mysqld.pid socket=/run/mysqld/mysqld.sock log=/var/log/mysql/mysqld.log \
        additional_parameters="--bind-address=$MASTER_VIP --port=$MARIADB_PORT --skip-name-resolve")</instance_attributes>
  <operations>$(op p_mysql start 0s "$(t 120)")$(op p_mysql stop 0s "$(t 120)")$(op p_mysql monitor "$(every 20)" "$(t 10)")</operations>
</primitive>"
}
mariadb_constraints() { :; }
