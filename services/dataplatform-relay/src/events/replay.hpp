#pragma once
// `dataplatform-relay replay [--dry-run] [--partition P]
//      [--from-offset N --to-offset M | --since RFC3339 --until RFC3339] [--key K] [--idle-ms MS]`
//
// Moves the relay's dead letters (reservation.confirmed.dlq records whose
// dlq-consumer-group is the relay's KAFKA_CONSUMER_GROUP) back to their original
// topic: same key and value, original headers without the dlq-* ones, plus
// dlq-replayed-from. The reading, selection and progress are
// events::replay_dead_letters (dlq_replay.hpp), shared with
// `ticketing-admin dlq replay`: progress in its own consumer group
// (REPLAY_GROUP, default dataplatform-relay-replay), committed after each
// acknowledged record, so a second run does not replay again. Records before
// the selected range are passed over for good (the group's position only
// moves forward); a partition stops before its first record after the range,
// which stays for a later run. The run ends at the end offsets seen at its
// start; --idle-ms (at least 10 s) only bounds a read that stalls.
// --dry-run lists what would move, produces and commits nothing.
// Output: one JSON object a line on stdout per selected record, then a
// summary line {"summary":{"dryRun":..,"moved":..,"selected":..,"passed":..,"failed":..}}.
// Exit codes: 0 done, 2 bad arguments or configuration, 1 Kafka failure.

namespace ticketing::relay {

int run_replay(int argc, char** argv);

}  // namespace ticketing::relay
