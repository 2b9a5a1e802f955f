#pragma once
// Hold timers in Redis, one bucket per partition number of reservation.held:
//   <prefix>timers:<bucket>  sorted set, member reservationId, score = due time
//                            (Unix ms; while claimed for publishing: the end of
//                            the claim, so nobody else publishes it meanwhile)
//   <prefix>payload          hash reservationId -> encode_payload(timer)
//   <prefix>done:<id>        tombstone of a finished reservation (with a TTL):
//                            a late or redelivered reservation.held for it
//                            starts no timer.
// Every operation is idempotent, so redelivered events and duplicate
// publishes are harmless.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "domain/timer.hpp"

namespace ticketing::redis {
class Pool;
}

namespace ticketing::scheduler {

struct StoreOptions {
  std::string prefix = "scheduler:";
  std::chrono::seconds done_ttl{15LL * 86400};  // see EXPIRY_DONE_TTL_S
};

struct BucketStats {
  std::int64_t pending = 0;
  // Due time of the oldest timer that is due and not claimed; 0 when none.
  std::int64_t oldest_due_ms = 0;
};

class TimerStore {
 public:
  TimerStore(redis::Pool& pool, StoreOptions options);

  // Starts the timer unless the reservation already finished or the timer
  // exists (a redelivered hold keeps its claim). True when it was added.
  bool add(const Timer& timer);
  // Confirmed or cancelled: drops the timer (wherever it lives) and leaves a
  // tombstone. `bucket_hint` is the partition the event came from.
  void finish(std::int64_t reservation_id, std::int32_t bucket_hint);

  // Claims up to `limit` timers of a bucket due at `now_ms`: each is hidden
  // until `claim_until_ms` (a crashed claimer's timers come back then).
  std::vector<Timer> claim_due(std::int32_t bucket, std::int64_t now_ms, std::size_t limit,
                               std::int64_t claim_until_ms);
  // After the broker acknowledged their seats.expired record.
  void complete(std::int32_t bucket, const std::vector<std::int64_t>& reservation_ids);
  // A publish failed: the timers are due again now (unless finished meanwhile).
  void release(const std::vector<Timer>& timers);

  BucketStats stats(std::int32_t bucket, std::int64_t now_ms);

  [[nodiscard]] std::string timers_key(std::int32_t bucket) const;
  [[nodiscard]] std::string payload_key() const;
  [[nodiscard]] std::string done_key(std::int64_t reservation_id) const;

 private:
  redis::Pool& pool_;
  StoreOptions options_;
};

}  // namespace ticketing::scheduler
