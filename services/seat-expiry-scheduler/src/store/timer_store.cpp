#include "store/timer_store.hpp"

#include <map>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/redis/redis.hpp"

namespace ticketing::scheduler {

namespace {

// KEYS: timers zset, payload hash, tombstone. ARGV: reservationId, due ms, payload.
// ZADD NX: a redelivered hold must not reset a claimed timer to "due".
const redis::Script kAdd(R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return added
)lua");

// KEYS: payload hash, tombstone, timers zset of the event's partition.
// ARGV: reservationId, tombstone TTL s, key prefix.
// The payload names the timer's own bucket, in case the finishing event came
// through another partition number than the hold.
const redis::Script kFinish(R"lua(
local v = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if v then
  local b = string.match(v, '^(%d+)|')
  if b then redis.call('ZREM', ARGV[3] .. 'timers:' .. b, ARGV[1]) end
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
return 1
)lua");

// KEYS: timers zset, payload hash. ARGV: now ms, limit, claim-until ms.
// Returns reservationId, payload pairs.
const redis::Script kClaim(R"lua(
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
)lua");

// KEYS: timers zset, payload hash. ARGV: prefix, tombstone TTL s, ids...
const redis::Script kComplete(R"lua(
for i = 3, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('SET', ARGV[1] .. 'done:' .. ARGV[i], '1', 'EX', ARGV[2])
end
return #ARGV - 2
)lua");

}  // namespace

TimerStore::TimerStore(redis::Pool& pool, StoreOptions options)
    : pool_(pool), options_(std::move(options)) {}

std::string TimerStore::timers_key(std::int32_t bucket) const {
  return options_.prefix + "timers:" + std::to_string(bucket);
}
std::string TimerStore::payload_key() const {
  return options_.prefix + "payload";
}
std::string TimerStore::done_key(std::int64_t reservation_id) const {
  return options_.prefix + "done:" + std::to_string(reservation_id);
}

bool TimerStore::add(const Timer& timer) {
  auto lease = pool_.acquire();
  auto reply =
      kAdd.run(*lease, {timers_key(timer.bucket), payload_key(), done_key(timer.reservation_id)},
               {std::to_string(timer.reservation_id), std::to_string(timer.expires_ms),
                encode_payload(timer)});
  return reply.as_integer() == 1;
}

void TimerStore::finish(std::int64_t reservation_id, std::int32_t bucket_hint) {
  auto lease = pool_.acquire();
  kFinish.run(
      *lease, {payload_key(), done_key(reservation_id), timers_key(bucket_hint)},
      {std::to_string(reservation_id), std::to_string(options_.done_ttl.count()), options_.prefix});
}

std::vector<Timer> TimerStore::claim_due(std::int32_t bucket, std::int64_t now_ms,
                                         std::size_t limit, std::int64_t claim_until_ms) {
  std::vector<Timer> out;
  if (limit == 0) return out;
  auto lease = pool_.acquire();
  auto reply =
      kClaim.run(*lease, {timers_key(bucket), payload_key()},
                 {std::to_string(now_ms), std::to_string(limit), std::to_string(claim_until_ms)});
  const auto& items = reply.as_array();
  out.reserve(items.size() / 2);
  std::vector<std::string> broken;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    const auto& id_text = items[i].as_string();
    std::int64_t id = 0;
    try {
      id = std::stoll(id_text);
    } catch (const std::exception&) {
      broken.push_back(id_text);
      continue;
    }
    auto timer = decode_payload(id, items[i + 1].as_string());
    if (!timer) {
      broken.push_back(id_text);
      continue;
    }
    timer->bucket = bucket;
    out.push_back(std::move(*timer));
  }
  if (!broken.empty()) {
    // Not written by this service: it can never be published, so drop it
    // rather than reclaiming it forever.
    for (const auto& id : broken) log::error("dropping unreadable timer", {{"reservation_id", id}});
    redis::Command zrem{"ZREM", timers_key(bucket)};
    redis::Command hdel{"HDEL", payload_key()};
    zrem.insert(zrem.end(), broken.begin(), broken.end());
    hdel.insert(hdel.end(), broken.begin(), broken.end());
    lease->pipeline({zrem, hdel});
  }
  return out;
}

void TimerStore::complete(std::int32_t bucket, const std::vector<std::int64_t>& reservation_ids) {
  if (reservation_ids.empty()) return;
  std::vector<std::string> args{options_.prefix, std::to_string(options_.done_ttl.count())};
  args.reserve(reservation_ids.size() + 2);
  for (auto id : reservation_ids) args.push_back(std::to_string(id));
  auto lease = pool_.acquire();
  kComplete.run(*lease, {timers_key(bucket), payload_key()}, args);
}

void TimerStore::release(const std::vector<Timer>& timers) {
  if (timers.empty()) return;
  std::map<std::int32_t, redis::Command> per_bucket;
  for (const auto& t : timers) {
    auto& cmd = per_bucket[t.bucket];
    if (cmd.empty()) cmd = {"ZADD", timers_key(t.bucket), "XX"};
    cmd.push_back(std::to_string(t.expires_ms));
    cmd.push_back(std::to_string(t.reservation_id));
  }
  std::vector<redis::Command> commands;
  for (auto& [bucket, cmd] : per_bucket) commands.push_back(std::move(cmd));
  auto lease = pool_.acquire();
  for (const auto& reply : lease->pipeline(commands)) {
    if (reply.is_error()) throw RedisError(reply.error_message(), false);
  }
}

BucketStats TimerStore::stats(std::int32_t bucket, std::int64_t now_ms) {
  auto key = timers_key(bucket);
  auto lease = pool_.acquire();
  auto replies = lease->pipeline(
      {{"ZCARD", key},
       {"ZRANGEBYSCORE", key, "-inf", std::to_string(now_ms), "WITHSCORES", "LIMIT", "0", "1"}});
  BucketStats s;
  if (replies.size() != 2 || replies[0].is_error() || replies[1].is_error())
    throw RedisError("stats failed", true);
  s.pending = replies[0].as_integer();
  if (replies[1].size() == 2) s.oldest_due_ms = std::stoll(replies[1][1].as_string());
  return s;
}

}  // namespace ticketing::scheduler
