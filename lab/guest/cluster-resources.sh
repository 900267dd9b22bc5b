#!/bin/bash
# Runs on the first node, after guest/cib.sh and the fragment of each of the
# stack's services (guest/services/<service>.cib.sh) in one script: fencing,
# then each service's resources and constraints ($SERVICES, in order). In a
# stack with a resource group ($GROUP, e.g. skyha's on the DRBD primary), the
# services' `<service>_group` primitives form it, in the same order.
# Written as CIB XML into a copy of the CIB (CIB_file points every Pacemaker
# tool at it) and pushed at once, so the cluster never acts on half a
# configuration. Pacemaker's own tools, not pcs: each pcs call costs seconds
# of Python start-up, minutes in all on emulated hosts.
set -euo pipefail

# Fencing (see cluster.fencing): a fence_lab device per node, or with sbd
# none at all: a lost node is counted as fenced once its watchdog has surely
# reset it (stonith-watchdog-timeout, set below).
fence_devices() {
    [ "${FENCING:-lab}" = lab ] && echo "$NODE_NAMES"
    true
}

resources() {
    for node in $(fence_devices); do
        echo "<primitive id=\"fence-$node\" class=\"stonith\" type=\"fence_lab\">
  <instance_attributes id=\"fence-$node-instance_attributes\">$(nvpairs "fence-$node-instance_attributes" port="$node" pcmk_host_list="$node")</instance_attributes>
  <operations>$(op "fence-$node" monitor "$(every 60)" "$(t 20)")</operations>
</primitive>"
    done
    for service in $SERVICES; do
        "${service}_resources"
    done
    if [ -n "${GROUP:-}" ]; then
        echo "<group id=\"$GROUP\">"
        for service in $SERVICES; do
            if declare -F "${service}_group" >/dev/null; then
                "${service}_group"
            fi
        done
        echo "</group>"
    fi
}

constraints() {
    for node in $(fence_devices); do
        echo "<rsc_location id=\"location-fence-$node-$node--INFINITY\" rsc=\"fence-$node\" node=\"$node\" score=\"-INFINITY\"/>"
    done
    for service in $SERVICES; do
        "${service}_constraints"
    done
}

cib=$(mktemp)
trap 'rm -f "$cib" "$cib.configuration"' EXIT
cibadmin --query > "$cib"
(
    export CIB_file=$cib
    crm_attribute --type crm_config --name stonith-enabled --update true
    if [ "${FENCING:-lab}" = sbd ]; then
        # Twice sbd's watchdog timeout (node-install.sh), stretched alike;
        # a fencing operation may take that long, so it gets a minute more
        # than that (Pacemaker's default 60 s is less on emulated hosts, and
        # a watchdog fencing that timed out started over, forever).
        watchdog_s=$((2 * WATCHDOG_TIMEOUT_S * TIME_FACTOR))
        crm_attribute --type crm_config --name stonith-watchdog-timeout --update "${watchdog_s}s"
        crm_attribute --type crm_config --name stonith-timeout --update "$((watchdog_s + 60 * TIME_FACTOR))s"
    fi
    # Every start after a rollback waits this long for a DC (see
    # cluster.dc_deadtime_ms); no failover does.
    crm_attribute --type crm_config --name dc-deadtime --update "$((DC_DEADTIME_MS * TIME_FACTOR))ms"
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
