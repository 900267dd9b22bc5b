#!/bin/bash
# On the replicated storage (guest/storage.sh in front, mounted at MariaDB's
# own /var/lib/mysql as seed 003 does): a new data directory
# (mariadb-install-db, the seed's mysql_install_db), the heartbeat user and
# database. MariaDB is started once by hand for that, on its socket only,
# then shut down: Pacemaker's mysql agent runs it from now on.
chown mysql:mysql "$STORAGE"
mariadb-install-db --user=mysql --datadir="$STORAGE" --skip-test-db >/dev/null
install -d -o mysql -g mysql /run/mysqld
socket=/run/mysqld/lab-setup.sock
mariadbd --user=mysql --datadir="$STORAGE" --skip-networking --socket="$socket" \
    --pid-file=/run/mysqld/lab-setup.pid --log-error=/var/log/mysql/lab-setup.err &
server=$!
trap 'mariadb-admin --socket="$socket" shutdown 2>/dev/null; wait "$server"; storage_release' EXIT
for _ in $(seq $((60 * TIME_FACTOR))); do
    mariadb-admin --socket="$socket" ping >/dev/null 2>&1 && break
    sleep 1
done
sql() { mariadb --socket="$socket" --batch "$@"; }
# Passwords go on stdin, never on a command line.
printf "CREATE DATABASE heartbeat;\nCREATE USER 'heartbeat'@'%%' IDENTIFIED BY '%s';\nGRANT ALL ON heartbeat.* TO 'heartbeat'@'%%';\n" \
    "$HEARTBEAT_PASSWORD" | sql
printf '%s\n' "$HEARTBEAT_SCHEMA" | sql heartbeat
echo "mariadb: data directory on $STORAGE with the heartbeat database"
