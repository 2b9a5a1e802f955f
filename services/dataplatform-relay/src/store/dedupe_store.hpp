#pragma once
// Delivery dedupe keys in Redis: <prefix>delivered:<reservationId>, written
// only after the platform accepted the reservation, so a failed send is never
// mistaken for a done one.

#include <chrono>
#include <cstdint>
#include <string>

namespace ticketing::redis {
class Pool;
}

namespace ticketing::relay {

class DedupeStore {
 public:
  DedupeStore(redis::Pool& pool, std::string prefix, std::chrono::seconds ttl)
      : pool_(pool), prefix_(std::move(prefix)), ttl_(ttl) {}

  // Throws RedisError.
  [[nodiscard]] bool delivered(std::int64_t reservation_id);
  void mark_delivered(std::int64_t reservation_id);

  [[nodiscard]] std::string key(std::int64_t reservation_id) const {
    return prefix_ + "delivered:" + std::to_string(reservation_id);
  }

 private:
  redis::Pool& pool_;
  std::string prefix_;
  std::chrono::seconds ttl_;
};

}  // namespace ticketing::relay
