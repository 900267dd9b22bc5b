#!/bin/bash
# Redis's part of the CIB (sourced after guest/cib.sh): a promotable clone
# managed by the redis agent, its master behind its own VIP.
redis_resources() {
    echo "<$PROMOTABLE id=\"redisd-clone\">
<primitive id=\"redisd\" class=\"ocf\" provider=\"heartbeat\" type=\"redis\">
  <instance_attributes id=\"redisd-instance_attributes\">$(nvpairs redisd-instance_attributes config="$REDIS_CONF" port="$REDIS_PORT")</instance_attributes>
  $(stateful_ops redisd)
</primitive>
$(promotable redisd)
</$PROMOTABLE>"
    vip redis-master-vip "$REDIS_VIP"
}

redis_constraints() {
    follows_master redis-master-vip redisd-clone
}
