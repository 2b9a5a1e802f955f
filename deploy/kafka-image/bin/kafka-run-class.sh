#!/bin/bash
# kafka-run-class.sh <main-class> [args...]: one of Kafka's tools, logging at WARN.
exec java -Xms32m -Xmx256m -cp "/opt/kafka/libs/*" -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml \
  -Dticketing.kafka.log.level=WARN "$@"
