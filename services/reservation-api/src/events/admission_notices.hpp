#pragma once
// "Your turn" (notifications.queue-admitted). The queue's scripts append each
// user admitted after waiting to the stream <prefix>admitted, in the same
// script as the admission (a Redis-side outbox). publish_round() reads the
// stream in the consumer group "notices", produces one event per entry and
// only then acknowledges and deletes the entry: at least once. Entries that
// an instance read and never acknowledged (it crashed, Kafka failed) are
// claimed by any instance after `claim_after`. The event id is derived from
// the stream entry, so an entry published twice is one notification to the
// notification-worker's dedupe.

#include <chrono>
#include <cstdint>
#include <string>

#include "ticketing/common/metrics.hpp"

namespace ticketing::redis {
class Pool;
}
namespace ticketing::events {
class Producer;
}

namespace ticketing::reservation {

struct AdmissionNoticesOptions {
  std::string prefix;         // the queue's REDIS_PREFIX
  std::string consumer_name;  // this instance, unique among the group's readers
  std::int64_t batch = 200;   // entries a round at most
  std::chrono::milliseconds claim_after{30000};
  std::chrono::milliseconds produce_timeout{10000};
};

class AdmissionNotices {
 public:
  AdmissionNotices(redis::Pool& pool, events::Producer& producer, AdmissionNoticesOptions options);

  // One round: entries pending too long with any reader, then new ones.
  // Returns how many were published and deleted. Throws on a Redis failure;
  // an entry whose event Kafka did not acknowledge stays pending.
  int publish_round();

 private:
  void ensure_group();

  redis::Pool& pool_;
  events::Producer& producer_;
  AdmissionNoticesOptions options_;
  metrics::Counter& produced_;
  bool group_ready_ = false;
};

}  // namespace ticketing::reservation
