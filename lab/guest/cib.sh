#!/bin/bash
# Helpers that write Pacemaker CIB XML, shared by guest/cluster-resources.sh
# and each service's fragment (guest/services/<service>.cib.sh): operations,
# name/value pairs, promotable clones, VIPs and the constraints that make a
# VIP follow a master. Sourced, never run alone. CLUSTER_STACK, TIME_FACTOR
# and PREFIX (the lab subnet's prefix length) come from lab's environment.
# shellcheck disable=SC2153
# Operation timeouts are for native speed; emulated (TCG) hosts get them
# multiplied by TIME_FACTOR. Monitor intervals set detection time and stay
# on native and KVM hosts; on TCG hosts (TIME_FACTOR 8-16) every monitor
# costs seconds of emulated CPU, and monitors every 5 s kept a one-CPU VM's
# load average near 7 and doubled the cluster's set-up: there they are
# stretched too, by at most 4.
t() { echo "$(($1 * TIME_FACTOR))s"; }
every() { echo "$(($1 * (TIME_FACTOR < 4 ? TIME_FACTOR : 4)))s"; }
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
    op "$1" monitor "$(every 5)" "$(t 10)" "$PROMOTED"; op "$1" monitor "$(every 6)" "$(t 10)" "$UNPROMOTED"
    op "$1" notify 0s "$(t 60)"
    echo "</operations>"
}
vip() { # id address
    echo "<primitive id=\"$1\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\">
  <instance_attributes id=\"$1-instance_attributes\">$(nvpairs "$1-instance_attributes" ip="$2" cidr_netmask="$PREFIX")</instance_attributes>
  <operations>$(op "$1" monitor "$(every 5)" "$(t 20)")</operations>
</primitive>"
}
# The VIP follows the master: only where the clone is promoted, only after
# the promotion, and stopped after a demotion in the same transition.
# PAF's guide makes the demote order Mandatory too, but then Pacemaker 2.1
# cannot shut a node down when a transition is cut short after the clone
# stopped and before the VIP did: the clone's demote can no longer run, so
# neither can the VIP's stop ("Cannot shut down ... blocked"), and
# `pcs cluster stop --all` waits forever (seen in CI, and in 2 make-alls
# of 5 on containers here). Optional keeps the order whenever both are
# scheduled.
follows_master() { # vip clone
    echo "<rsc_colocation id=\"colocation-$1-$2-INFINITY\" rsc=\"$1\" with-rsc=\"$2\" with-rsc-role=\"$PROMOTED\" score=\"INFINITY\"/>
<rsc_order id=\"order-$2-$1-promote\" first=\"$2\" first-action=\"promote\" then=\"$1\" then-action=\"start\" symmetrical=\"false\" kind=\"Mandatory\"/>
<rsc_order id=\"order-$2-$1-demote\" first=\"$2\" first-action=\"demote\" then=\"$1\" then-action=\"stop\" symmetrical=\"false\" kind=\"Optional\"/>"
}
# A Docker container run by ocf:heartbeat:docker from an image lab imported
# (never pulled: no registry is reachable from a lab).
container() { # id image run_opts run_cmd
    echo "<primitive id=\"$1\" class=\"ocf\" provider=\"heartbeat\" type=\"docker\">
  <instance_attributes id=\"$1-instance_attributes\">$(nvpairs "$1-instance_attributes" \
        image="$2" allow_pull=false reuse=false run_opts="$3" run_cmd="$4")</instance_attributes>
  <operations>$(op "$1" start 0s "$(t 90)")$(op "$1" stop 0s "$(t 60)")$(op "$1" monitor "$(every 5)" "$(t 30)")</operations>
</primitive>"
}
