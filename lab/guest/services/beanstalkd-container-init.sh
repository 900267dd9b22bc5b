#!/bin/bash
# On the replicated storage (guest/storage.sh in front): Beanstalkd's binlog
# directory, owned by the image's beanstalkd user.
mkdir -p "$STORAGE/beanstalkd"
docker run --rm --network none -v "$STORAGE/beanstalkd:/data" lab/beanstalkd chown beanstalkd:beanstalkd /data
