#include "store/catalogue_cache.hpp"

#include <algorithm>
#include <vector>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/redis/pool.hpp"

namespace ticketing::reservation {

namespace {
// Entries live under "<p>cache:<key>@<generation>": bumping the generation
// (INCR) makes every older entry unreachable at once; they expire by TTL.
// KEYS[1] = generation key; ARGV[1] = entry prefix "<p>cache:<key>@".
// Returns {generation, value or nil, remaining ttl ms}.
const redis::Script& get_script() {
  static const redis::Script s(R"lua(
local gen = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. gen
return {gen, redis.call('GET', key), redis.call('PTTL', key)}
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
constexpr std::size_t kMaxLocalEntries = 20000;
}  // namespace

CatalogueCache::CatalogueCache(redis::Pool& pool, std::string prefix, std::chrono::milliseconds ttl,
                               std::chrono::milliseconds local_max_stale)
    : pool_(pool), prefix_(std::move(prefix)), ttl_(ttl), local_max_stale_(local_max_stale) {}

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

CatalogueCache::Body CatalogueCache::peek_local(const std::string& key) const {
  if (!local_enabled()) return nullptr;
  auto now = Clock::now();
  std::lock_guard lock(mu_);
  auto it = local_.find(key);
  if (it == local_.end()) return nullptr;
  const auto& e = it->second;
  if (now - e.validated > local_max_stale_ || now >= e.expires) return nullptr;
  return e.body;
}

void CatalogueCache::store_local(const std::string& key, Local entry, std::uint64_t epoch_seen) {
  if (!local_enabled()) return;
  std::lock_guard lock(mu_);
  // An invalidation since the load began: the entry may predate it.
  if (epoch_.load() != epoch_seen) return;
  if (local_.size() >= kMaxLocalEntries && local_.find(key) == local_.end()) local_.clear();
  local_[key] = std::move(entry);
}

CatalogueCache::Body CatalogueCache::get_or_load(
    const std::string& key, const std::function<std::optional<std::string>()>& load) {
  auto loaded = [&]() -> Body {
    auto v = load();
    return v ? std::make_shared<const std::string>(std::move(*v)) : nullptr;
  };
  if (ttl_.count() <= 0) return loaded();
  if (auto hit = peek_local(key)) return hit;
  const auto epoch_seen = epoch_.load();
  const auto started = Clock::now();
  const auto gen_key = generation_key(key);
  std::string gen;
  auto entry = prefix_ + "cache:" + key + "@";
  try {
    auto lease = pool_.acquire();
    auto r = get_script().run(*lease, {gen_key}, {entry});
    gen = r[0].as_string();
    if (r.size() > 1 && r[1].is_string()) {
      auto body = std::make_shared<const std::string>(r[1].as_string());
      auto left =
          std::chrono::milliseconds(r.size() > 2 && r[2].is_integer() ? r[2].as_integer() : 0);
      if (left.count() > 0) {
        store_local(key, Local{body, gen_key, gen, started, started + std::min(left, ttl_)},
                    epoch_seen);
      }
      return body;
    }
  } catch (const InfraError& e) {
    log::warn("catalogue cache unavailable", {{"error", e.what()}});
    return loaded();
  }
  auto value = loaded();
  if (!value) return value;
  try {
    auto lease = pool_.acquire();
    auto stored =
        put_script().run(*lease, {gen_key}, {entry, gen, *value, std::to_string(ttl_.count())});
    if (stored.is_integer() && stored.as_integer() == 1) {
      store_local(key, Local{value, gen_key, gen, started, started + ttl_}, epoch_seen);
    }
  } catch (const InfraError& e) {
    log::warn("catalogue cache write failed", {{"error", e.what()}});
  }
  return value;
}

std::vector<redis::Reply> CatalogueCache::invalidate_schedule(
    std::int64_t schedule_id, const std::vector<std::vector<std::string>>& also) {
  std::vector<redis::Reply> extra;
  std::vector<redis::Command> commands;
  if (ttl_.count() > 0) {
    commands.push_back({"INCR", generation_key(seats_key(schedule_id))});
    commands.push_back({"INCR", prefix_ + "cachegen:schedules"});
  }
  const auto own = commands.size();
  commands.insert(commands.end(), also.begin(), also.end());
  if (!commands.empty()) {
    try {
      auto lease = pool_.acquire();
      auto replies = lease->pipeline(commands);
      extra.assign(std::make_move_iterator(replies.begin() + static_cast<std::ptrdiff_t>(own)),
                   std::make_move_iterator(replies.end()));
    } catch (const InfraError& e) {
      // Entries still expire after the TTL.
      log::warn("catalogue cache invalidation failed",
                {{"schedule_id", std::to_string(schedule_id)}, {"error", e.what()}});
    }
  }
  if (!local_enabled()) return extra;
  // After the INCR: a load that reads the old generation from now on is
  // refused by store_local (epoch) or dropped by the next refresh().
  std::lock_guard lock(mu_);
  epoch_.fetch_add(1);
  local_.erase(seats_key(schedule_id));
  for (auto it = local_.begin(); it != local_.end();) {
    it = it->first.rfind("schedules:", 0) == 0 ? local_.erase(it) : std::next(it);
  }
  return extra;
}

void CatalogueCache::refresh() noexcept {
  if (!local_enabled()) return;
  const auto started = Clock::now();
  std::vector<std::string> gen_keys;
  {
    std::lock_guard lock(mu_);
    for (auto it = local_.begin(); it != local_.end();) {
      if (started >= it->second.expires) {
        it = local_.erase(it);
        continue;
      }
      gen_keys.push_back(it->second.generation_key);
      ++it;
    }
  }
  if (gen_keys.empty()) return;
  std::sort(gen_keys.begin(), gen_keys.end());
  gen_keys.erase(std::unique(gen_keys.begin(), gen_keys.end()), gen_keys.end());
  std::unordered_map<std::string, std::string> current;
  try {
    redis::Command mget{"MGET"};
    mget.insert(mget.end(), gen_keys.begin(), gen_keys.end());
    auto lease = pool_.acquire();
    auto r = lease->command(mget);
    for (std::size_t i = 0; i < gen_keys.size() && i < r.size(); ++i) {
      current[gen_keys[i]] = r[i].is_string() ? r[i].as_string() : "0";
    }
  } catch (const std::exception& e) {
    // Not confirmed: the entries stop being served after local_max_stale.
    log::debug("catalogue cache refresh failed", {{"error", e.what()}});
    return;
  }
  std::lock_guard lock(mu_);
  for (auto it = local_.begin(); it != local_.end();) {
    auto c = current.find(it->second.generation_key);
    if (c == current.end()) {
      ++it;  // added after the MGET: its own load time stands
    } else if (c->second != it->second.generation) {
      it = local_.erase(it);
    } else {
      it->second.validated = std::max(it->second.validated, started);
      ++it;
    }
  }
}

}  // namespace ticketing::reservation
