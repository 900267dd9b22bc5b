#!/bin/bash
# Beanstalkd in a Docker container (sourced after guest/cib.sh), in the
# stack's group on the DRBD primary (seed 000's `bstkd`), its binlog on DRBD
# fsynced on every write.
beanstalkd_container_resources() { :; }
beanstalkd_container_group() {
    container bstkd lab/beanstalkd "--network host --user beanstalkd -v $STORAGE/beanstalkd:/data" \
        "beanstalkd -l 0.0.0.0 -p $BEANSTALKD_PORT -b /data -f 0"
}
beanstalkd_container_constraints() { :; }
