#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace ticketing::redis {
class Pool;
}

namespace ticketing::reservation {

// Read-through cache of rendered catalogue responses in Redis.
//
// Each entry has a generation counter; a writer bumps it and deletes the entry
// right after its commit, and a reader stores what it read only if the
// generation is still the one it saw before reading the database (one Lua
// script). A reader that raced a hold therefore never puts a stale "AVAILABLE"
// back. Redis being down only costs the cache: reads go to the database.
class CatalogueCache {
 public:
  CatalogueCache(redis::Pool& pool, std::string prefix, std::chrono::milliseconds ttl);

  // Cached value of `key`, else load() (nullopt: nothing to cache, e.g. 404).
  std::optional<std::string> get_or_load(const std::string& key,
                                         const std::function<std::optional<std::string>()>& load);
  // After a committed seat change of this schedule.
  void invalidate_schedule(std::int64_t schedule_id);

  static std::string seats_key(std::int64_t schedule_id);
  static std::string schedules_key(std::int64_t concert_id);
  static std::string concerts_key();

 private:
  [[nodiscard]] std::string generation_key(const std::string& key) const;

  redis::Pool& pool_;
  std::string prefix_;
  std::chrono::milliseconds ttl_;
};

}  // namespace ticketing::reservation
