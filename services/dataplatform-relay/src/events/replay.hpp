#pragma once
// `dataplatform-relay replay [--dry-run] [--partition P]
//      [--from-offset N --to-offset M | --since RFC3339 --until RFC3339] [--idle-ms MS]`
//
// Moves the relay's dead letters (reservation.confirmed.dlq records whose
// dlq-consumer-group is the relay's KAFKA_CONSUMER_GROUP) back to their original
// topic: same key and value, original headers without the dlq-* ones.
// Reads with its own consumer group (REPLAY_GROUP, default
// dataplatform-relay-replay) from that group's committed position and
// commits after each acknowledged record, so a second run does not replay
// again. Records before the selected range are passed over for good (the
// group's position only moves forward); a partition stops at its first
// record after the range, which stays for a later run. The run ends when no
// record arrived for --idle-ms (default 3000) after partitions were assigned.
// --dry-run lists what would move, produces and commits nothing.
// Output: one JSON object a line on stdout per selected record, then a
// summary line {"summary":{"dryRun":..,"moved":..,"selected":..,"passed":..}}.
// Exit codes: 0 done, 2 bad arguments or configuration, 1 Kafka failure.

namespace ticketing::relay {

int run_replay(int argc, char** argv);

}  // namespace ticketing::relay
