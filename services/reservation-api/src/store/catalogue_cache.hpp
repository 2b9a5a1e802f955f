#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ticketing/redis/reply.hpp"

namespace ticketing::redis {
class Pool;
}

namespace ticketing::reservation {

// Read-through cache of rendered catalogue responses, two levels.
//
// Redis (shared by every instance): each entry has a generation counter; a
// writer bumps it right after its commit, and a reader stores what it read
// only if the generation is still the one it saw before reading the database
// (one Lua script). A reader that raced a hold therefore never puts a stale
// "AVAILABLE" back. Redis being down only costs the cache: reads go to the
// database.
//
// In process (optional, local_max_stale > 0): the same documents as shared
// immutable buffers, each tagged with the generation it was read at. A
// background refresh() (every local_max_stale / 2) reads the generations of
// all local entries in one MGET and drops the entries whose generation moved;
// an entry not confirmed by a refresh within local_max_stale is not served
// (Redis down or slow: reads fall through to the Redis level and the
// database). So another instance's change shows here within local_max_stale,
// this instance's own changes at once (invalidate_schedule drops them), and
// no entry lives longer than the Redis level's TTL.
class CatalogueCache {
 public:
  using Body = std::shared_ptr<const std::string>;

  CatalogueCache(redis::Pool& pool, std::string prefix, std::chrono::milliseconds ttl,
                 std::chrono::milliseconds local_max_stale = std::chrono::milliseconds(0));

  // Cached value of `key`, else load() (nullopt: nothing to cache, e.g. 404;
  // then nullptr). May block (Redis, database).
  Body get_or_load(const std::string& key, const std::function<std::optional<std::string>()>& load);
  // The in-process entry of `key` if it is fresh (see above), else nullptr.
  // Never blocks on I/O.
  [[nodiscard]] Body peek_local(const std::string& key) const;
  // After a committed seat change of this schedule. `also`: further commands
  // sent in the same pipeline (one round trip); returns their replies, or
  // nothing when Redis could not be reached (logged, not thrown).
  std::vector<redis::Reply> invalidate_schedule(
      std::int64_t schedule_id, const std::vector<std::vector<std::string>>& also = {});
  // Revalidates the in-process entries against Redis (one MGET); call every
  // refresh_interval(). Never throws.
  void refresh() noexcept;
  [[nodiscard]] bool local_enabled() const noexcept {
    return ttl_.count() > 0 && local_max_stale_.count() > 0;
  }
  [[nodiscard]] std::chrono::milliseconds refresh_interval() const noexcept {
    return std::max(std::chrono::milliseconds(1), local_max_stale_ / 2);
  }

  static std::string seats_key(std::int64_t schedule_id);
  static std::string schedules_key(std::int64_t concert_id);
  static std::string concerts_key();

 private:
  using Clock = std::chrono::steady_clock;
  struct Local {
    Body body;
    std::string generation_key;
    std::string generation;
    Clock::time_point validated;  // generation known current at this time
    Clock::time_point expires;    // the Redis entry's TTL
  };
  [[nodiscard]] std::string generation_key(const std::string& key) const;
  void store_local(const std::string& key, Local entry, std::uint64_t epoch_seen);

  redis::Pool& pool_;
  std::string prefix_;
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds local_max_stale_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Local> local_;  // guarded by mu_
  // Bumped by every local invalidation: a load that started before one does
  // not store its result locally.
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace ticketing::reservation
