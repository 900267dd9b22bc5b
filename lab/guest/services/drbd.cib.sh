#!/bin/bash
# DRBD's part of the CIB (sourced after guest/cib.sh), named as the stack's
# seed names it (lab's DRBD_* variables): the promotable clone $DRBD_CLONE of
# $DRBD_PRIMITIVE, and at the head of the stack's group on its primary the
# file system $DRBD_FS at $STORAGE and the stack's one VIP (the VIP first
# where the seed puts it first).
drbd_resources() {
    echo "<$PROMOTABLE id=\"$DRBD_CLONE\">
<primitive id=\"$DRBD_PRIMITIVE\" class=\"ocf\" provider=\"linbit\" type=\"drbd\">
  <instance_attributes id=\"$DRBD_PRIMITIVE-instance_attributes\">$(nvpairs "$DRBD_PRIMITIVE-instance_attributes" drbd_resource="$DRBD_RESOURCE")</instance_attributes>
  $(stateful_ops "$DRBD_PRIMITIVE")
</primitive>
$(promotable "$DRBD_PRIMITIVE")
</$PROMOTABLE>"
}

drbd_filesystem() {
    echo "<primitive id=\"$DRBD_FS\" class=\"ocf\" provider=\"heartbeat\" type=\"Filesystem\">
  <instance_attributes id=\"$DRBD_FS-instance_attributes\">$(nvpairs "$DRBD_FS-instance_attributes" \
        device="$DRBD_DEVICE" directory="$STORAGE" fstype="$DRBD_FSTYPE")</instance_attributes>
  <operations>$(op "$DRBD_FS" start 0s "$(t 60)")$(op "$DRBD_FS" stop 0s "$(t 60)")$(op "$DRBD_FS" monitor "$(every 10)" "$(t 40)")</operations>
</primitive>"
}

drbd_group() {
    if [ -n "${DRBD_VIP_FIRST:-}" ]; then
        vip "$DRBD_VIP" "$MASTER_VIP"
        drbd_filesystem
    else
        drbd_filesystem
        vip "$DRBD_VIP" "$MASTER_VIP"
    fi
}

# The group runs where DRBD is primary, after the promotion.
drbd_constraints() {
    echo "<rsc_colocation id=\"colocation-$GROUP-$DRBD_CLONE-INFINITY\" rsc=\"$GROUP\" with-rsc=\"$DRBD_CLONE\" with-rsc-role=\"$PROMOTED\" score=\"INFINITY\"/>
<rsc_order id=\"order-$DRBD_CLONE-$GROUP-mandatory\" first=\"$DRBD_CLONE\" first-action=\"promote\" then=\"$GROUP\" then-action=\"start\" kind=\"Mandatory\"/>"
}
