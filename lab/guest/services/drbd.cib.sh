#!/bin/bash
# DRBD's part of the CIB (sourced after guest/cib.sh), as in seed 000: the
# promotable clone drbd-cluster of resource skydata, and at the head of the
# stack's group on its primary the file system and the stack's one VIP.
drbd_resources() {
    echo "<$PROMOTABLE id=\"drbd-cluster\">
<primitive id=\"skydata\" class=\"ocf\" provider=\"linbit\" type=\"drbd\">
  <instance_attributes id=\"skydata-instance_attributes\">$(nvpairs skydata-instance_attributes drbd_resource=skydata)</instance_attributes>
  $(stateful_ops skydata)
</primitive>
$(promotable skydata)
</$PROMOTABLE>"
}

drbd_group() {
    echo "<primitive id=\"skyfs\" class=\"ocf\" provider=\"heartbeat\" type=\"Filesystem\">
  <instance_attributes id=\"skyfs-instance_attributes\">$(nvpairs skyfs-instance_attributes \
        device=/dev/drbd1 directory="$STORAGE" fstype=ext4)</instance_attributes>
  <operations>$(op skyfs start 0s "$(t 60)")$(op skyfs stop 0s "$(t 60)")$(op skyfs monitor "$(every 10)" "$(t 40)")</operations>
</primitive>"
    vip vip-master "$MASTER_VIP"
}

# The group runs where DRBD is primary, after the promotion.
drbd_constraints() {
    echo "<rsc_colocation id=\"colocation-$GROUP-drbd-cluster-INFINITY\" rsc=\"$GROUP\" with-rsc=\"drbd-cluster\" with-rsc-role=\"$PROMOTED\" score=\"INFINITY\"/>
<rsc_order id=\"order-drbd-cluster-$GROUP-mandatory\" first=\"drbd-cluster\" first-action=\"promote\" then=\"$GROUP\" then-action=\"start\" kind=\"Mandatory\"/>"
}
