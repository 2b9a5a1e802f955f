#include "store/catalogue_cache.hpp"

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/redis/pool.hpp"

namespace ticketing::reservation {

namespace {
// Entries live under "<p>cache:<key>@<generation>": bumping the generation
// (INCR) makes every older entry unreachable at once; they expire by TTL.
// KEYS[1] = generation key; ARGV[1] = entry prefix "<p>cache:<key>@".
const redis::Script& get_script() {
  static const redis::Script s(R"lua(
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen)}
)lua");
  return s;
}
// KEYS[1] = generation key; ARGV[1] = entry prefix, ARGV[2] = generation seen
// before the database read, ARGV[3] = value, ARGV[4] = ttl ms.
const redis::Script& put_script() {
  static const redis::Script s(R"lua(
local gen = redis.call('GET', KEYS[1]) or '0'
if gen ~= ARGV[2] then return 0 end
redis.call('SET', ARGV[1] .. gen, ARGV[3], 'PX', ARGV[4])
return 1
)lua");
  return s;
}
}  // namespace

CatalogueCache::CatalogueCache(redis::Pool& pool, std::string prefix, std::chrono::milliseconds ttl)
    : pool_(pool), prefix_(std::move(prefix)), ttl_(ttl) {}

std::string CatalogueCache::seats_key(std::int64_t schedule_id) {
  return "seats:" + std::to_string(schedule_id);
}
// Availability of every concert changes with any seat: one generation for all.
std::string CatalogueCache::schedules_key(std::int64_t concert_id) {
  return "schedules:" + std::to_string(concert_id);
}
std::string CatalogueCache::concerts_key() {
  return "concerts";
}

std::string CatalogueCache::generation_key(const std::string& key) const {
  if (key.rfind("schedules:", 0) == 0) return prefix_ + "cachegen:schedules";
  return prefix_ + "cachegen:" + key;
}

std::optional<std::string> CatalogueCache::get_or_load(
    const std::string& key, const std::function<std::optional<std::string>()>& load) {
  if (ttl_.count() <= 0) return load();
  std::string gen;
  auto entry = prefix_ + "cache:" + key + "@";
  try {
    auto lease = pool_.acquire();
    auto r = get_script().run(*lease, {generation_key(key)}, {entry});
    gen = r[0].as_string();
    if (r.size() > 1 && r[1].is_string()) return r[1].as_string();
  } catch (const InfraError& e) {
    log::warn("catalogue cache unavailable", {{"error", e.what()}});
    return load();
  }
  auto value = load();
  if (!value) return value;
  try {
    auto lease = pool_.acquire();
    put_script().run(*lease, {generation_key(key)},
                     {entry, gen, *value, std::to_string(ttl_.count())});
  } catch (const InfraError& e) {
    log::warn("catalogue cache write failed", {{"error", e.what()}});
  }
  return value;
}

void CatalogueCache::invalidate_schedule(std::int64_t schedule_id) {
  if (ttl_.count() <= 0) return;
  try {
    auto lease = pool_.acquire();
    lease->pipeline({{"INCR", generation_key(seats_key(schedule_id))},
                     {"INCR", prefix_ + "cachegen:schedules"}});
  } catch (const InfraError& e) {
    // Entries still expire after the TTL.
    log::warn("catalogue cache invalidation failed",
              {{"schedule_id", std::to_string(schedule_id)}, {"error", e.what()}});
  }
}

}  // namespace ticketing::reservation
