#!/bin/bash
# Beanstalkd in a Docker container (sourced after guest/cib.sh), in the
# stack's group on the DRBD primary (seed 000's `bstkd`), its binlog on DRBD
# fsynced on every write. Run under docker's init (tini): beanstalkd has no
# SIGTERM handler, and as a container's PID 1 the kernel ignores SIGTERM for
# it, so `docker stop` waited the agent's whole stop timeout (950 s under
# TCG) before it killed the container. Under tini it is PID 2 and SIGTERM
# ends it at once, as it would outside a container.
beanstalkd_container_resources() { :; }
beanstalkd_container_group() {
    container bstkd lab/beanstalkd "--init --network host --user beanstalkd -v $STORAGE/beanstalkd:/data" \
        "beanstalkd -l 0.0.0.0 -p $BEANSTALKD_PORT -b /data -f 0"
}
beanstalkd_container_constraints() { :; }
