#include "store/queue_store.hpp"

#include "domain/model.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/redis/pool.hpp"

namespace ticketing::reservation {

namespace {

// Shared Lua prelude: eviction of lapsed tokens and admission in arrival order.
// KEYS[1] = waiting, KEYS[2] = active, KEYS[3] = seq, KEYS[4] = seen,
// KEYS[5] = left (how many ever left the waiting set: admitted, lapsed or ended),
// KEYS[6] = admit (token bucket pacing admissions: tokens, at),
// KEYS[7] = admitted (stream: one entry per user admitted after waiting, for
// the "your turn" notification; AdmissionNotices publishes and deletes them);
// ARGV[1] = prefix, ARGV[2] = now ms, ARGV[3] = max active, ARGV[4] = active
// ttl ms, ARGV[5] = max waiting, ARGV[6] = waiting ttl ms, ARGV[7] = token
// lifetime s, ARGV[8] = admissions per second (0 = unpaced); a script's own
// arguments follow from ARGV[9].
constexpr const char* kPrelude = R"lua(
local p = ARGV[1]
local now = tonumber(ARGV[2])
local max_active = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local max_waiting = tonumber(ARGV[5])
local waiting_ttl = tonumber(ARGV[6])
local token_life = tonumber(ARGV[7])
local admit_rate = tonumber(ARGV[8])
-- A token filed and admitted within one request (it never waited): the
-- answer tells its user, so no "your turn" notice.
local quiet = nil
local function end_token(tid)
  local key = p .. 'tok:' .. tid
  local uid = redis.call('HGET', key, 'uid')
  redis.call('HSET', key, 'state', 'EXPIRED')
  redis.call('EXPIRE', key, 86400)
  if uid then
    local ukey = p .. 'user:' .. uid
    if redis.call('GET', ukey) == tid then redis.call('DEL', ukey) end
  end
end
local function promote()
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  for _, tid in ipairs(lapsed) do
    redis.call('ZREM', KEYS[2], tid)
    end_token(tid)
  end
  -- Waiting users who stopped asking for their place leave the queue.
  local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - waiting_ttl, 'LIMIT', 0, 1000)
  local left = 0
  for _, tid in ipairs(gone) do
    redis.call('ZREM', KEYS[4], tid)
    left = left + redis.call('ZREM', KEYS[1], tid)
    end_token(tid)
  end
  local free = max_active - redis.call('ZCARD', KEYS[2])
  local admitted = 0
  -- Paced: at most admit_rate a second (a burst of one second's worth), so a
  -- wave of freed places does not let everyone in at the same moment.
  local bucket = 0
  if free > 0 and admit_rate > 0 then
    local b = redis.call('HMGET', KEYS[6], 'tokens', 'at')
    local tokens = tonumber(b[1]) or admit_rate
    local at = tonumber(b[2]) or now
    bucket = math.min(admit_rate, tokens + math.max(0, now - at) * admit_rate / 1000)
    free = math.min(free, math.floor(bucket))
  end
  if free > 0 then
    local nexts = redis.call('ZRANGE', KEYS[1], 0, free - 1)
    for _, tid in ipairs(nexts) do
      redis.call('ZREM', KEYS[1], tid)
      redis.call('ZREM', KEYS[4], tid)
      redis.call('ZADD', KEYS[2], now + ttl, tid)
      redis.call('HSET', p .. 'tok:' .. tid, 'state', 'ACTIVE')
      if tid ~= quiet then
        local uid = redis.call('HGET', p .. 'tok:' .. tid, 'uid')
        if uid then
          redis.call('XADD', KEYS[7], 'MAXLEN', '~', '100000', '*', 'uid', uid, 'at', tostring(now),
                     'until', tostring(now + ttl))
        end
      end
      admitted = admitted + 1
    end
  end
  left = left + admitted
  if admit_rate > 0 and bucket > 0 then
    redis.call('HSET', KEYS[6], 'tokens', tostring(bucket - admitted), 'at', now)
    redis.call('PEXPIRE', KEYS[6], 3600000)
  end
  if left > 0 then redis.call('INCRBY', KEYS[5], left) end
  return admitted
end
local function report(tid)
  local key = p .. 'tok:' .. tid
  local st = redis.call('HMGET', key, 'state', 'uid')
  if not st[1] then return {'EXPIRED', 0, 0} end
  if st[1] == 'WAITING' then
    local rank = redis.call('ZRANK', KEYS[1], tid)
    if not rank then return {'EXPIRED', 0, tonumber(st[2]) or 0} end
    return {'WAITING', rank + 1, tonumber(st[2]) or 0, tonumber(redis.call('GET', KEYS[5]) or '0')}
  end
  return {st[1], 0, tonumber(st[2]) or 0}
end
)lua";

// ARGV[9] = user id, ARGV[10] = token id, ARGV[11] = token. Returns {1,
// token, <report>} (new), {0, token, <report>} (the user's live one) or
// {2, ''} (queue full); <report> is report()'s fields, so no status call
// has to follow.
const redis::Script& enter_script() {
  static const redis::Script s(std::string(kPrelude) + R"lua(
local ukey = p .. 'user:' .. ARGV[9]
local existing = redis.call('GET', ukey)
if existing then
  local tok = redis.call('HGET', p .. 'tok:' .. existing, 'token')
  if tok then
    promote()
    redis.call('ZADD', KEYS[4], 'XX', now, existing)
    local r = report(existing)
    return {0, tok, r[1], r[2], r[3], r[4]}
  end
end
promote()
if redis.call('ZCARD', KEYS[1]) >= max_waiting then return {2, ''} end
local seq = redis.call('INCR', KEYS[3])
local tkey = p .. 'tok:' .. ARGV[10]
redis.call('SET', ukey, ARGV[10], 'EX', token_life)
redis.call('HSET', tkey, 'uid', ARGV[9], 'token', ARGV[11], 'state', 'WAITING')
redis.call('EXPIRE', tkey, token_life)
redis.call('ZADD', KEYS[1], seq, ARGV[10])
redis.call('ZADD', KEYS[4], now, ARGV[10])
quiet = ARGV[10]
promote()
local r = report(ARGV[10])
return {1, ARGV[11], r[1], r[2], r[3], r[4]}
)lua");
  return s;
}

// ARGV[9] = token id. Asking keeps a waiting user's place.
const redis::Script& status_script() {
  static const redis::Script s(std::string(kPrelude) + R"lua(
promote()
redis.call('ZADD', KEYS[4], 'XX', now, ARGV[9])
return report(ARGV[9])
)lua");
  return s;
}

const redis::Script& peek_script() {
  static const redis::Script s(std::string(kPrelude) + R"lua(
return report(ARGV[9])
)lua");
  return s;
}

const redis::Script& promote_script() {
  static const redis::Script s(std::string(kPrelude) + "return promote()\n");
  return s;
}

// ARGV[9] = token id: refresh the lapse deadline of an active token only.
const redis::Script& touch_script() {
  static const redis::Script s(std::string(kPrelude) + R"lua(
if redis.call('ZSCORE', KEYS[2], ARGV[9]) then redis.call('ZADD', KEYS[2], now + ttl, ARGV[9]) end
return 1
)lua");
  return s;
}

// ARGV[9] = user id
const redis::Script& expire_user_script() {
  static const redis::Script s(std::string(kPrelude) + R"lua(
local tid = redis.call('GET', p .. 'user:' .. ARGV[9])
if not tid then return 0 end
if redis.call('ZREM', KEYS[1], tid) == 1 then redis.call('INCR', KEYS[5]) end
redis.call('ZREM', KEYS[2], tid)
redis.call('ZREM', KEYS[4], tid)
end_token(tid)
promote()
return 1
)lua");
  return s;
}

QueueState parse_state(const std::string& s) {
  if (s == "WAITING") return QueueState::kWaiting;
  if (s == "ACTIVE") return QueueState::kActive;
  return QueueState::kExpired;
}

// report()'s fields, from `at` on in the reply.
QueueStatus to_status(const redis::Reply& r, std::size_t at = 0) {
  QueueStatus st;
  st.state = parse_state(r[at].as_string());
  st.position = r[at + 1].as_integer();
  st.user_id = r[at + 2].as_integer();
  if (r.size() > at + 3) st.departed = r[at + 3].as_integer();
  return st;
}

}  // namespace

QueueStore::QueueStore(redis::Pool& pool, QueueOptions options)
    : pool_(pool), options_(std::move(options)) {}

namespace {
std::string millis(std::chrono::milliseconds d) {
  return std::to_string(d.count());
}
std::vector<std::string> base_args(const QueueOptions& o) {
  return {o.prefix,
          std::to_string(unix_millis(std::chrono::system_clock::now())),
          std::to_string(o.max_active),
          millis(o.active_ttl),
          std::to_string(o.max_waiting),
          millis(o.waiting_ttl),
          std::to_string(o.token_lifetime.count()),
          std::to_string(o.admit_per_second)};
}
std::vector<std::string> keys(const QueueOptions& o) {
  return {o.prefix + "waiting", o.prefix + "active", o.prefix + "seq",     o.prefix + "seen",
          o.prefix + "left",    o.prefix + "admit",  o.prefix + "admitted"};
}
}  // namespace

QueueStore::Entered QueueStore::enter(std::int64_t user_id, const std::string& token_id,
                                      const std::string& new_token) {
  auto args = base_args(options_);
  args.push_back(std::to_string(user_id));
  args.push_back(token_id);
  args.push_back(new_token);
  auto lease = pool_.acquire();
  auto r = enter_script().run(*lease, keys(options_), args);
  const auto outcome = r[0].as_integer();
  Entered entered{outcome == 1, outcome == 2, r[1].as_string(), {}};
  if (!entered.full && r.size() >= 5) {
    entered.status = to_status(r, 2);
    if (entered.created) remember(token_id, entered.status);
  }
  return entered;
}

QueueStatus QueueStore::status(const std::string& token_id) {
  return ask(status_script(), token_id);
}

QueueStatus QueueStore::peek(const std::string& token_id) {
  return ask(peek_script(), token_id);
}

QueueStatus QueueStore::ask(const redis::Script& script, const std::string& token_id) {
  auto args = base_args(options_);
  args.push_back(token_id);
  auto lease = pool_.acquire();
  auto st = to_status(script.run(*lease, keys(options_), args));
  remember(token_id, st);
  return st;
}

void QueueStore::remember(const std::string& token_id, const QueueStatus& st) {
  if (options_.state_cache.count() <= 0) return;
  std::lock_guard lock(cache_mu_);
  if (st.state != QueueState::kActive) {
    active_.erase(token_id);
    return;
  }
  // Bounded: a flood of distinct tokens only costs the cache.
  if (active_.size() >= 100000) active_.clear();
  active_[token_id] = Cached{st.user_id, std::chrono::steady_clock::now() + options_.state_cache};
}

std::optional<QueueStatus> QueueStore::peek_cached(const std::string& token_id) const {
  if (options_.state_cache.count() <= 0) return std::nullopt;
  std::lock_guard lock(cache_mu_);
  auto it = active_.find(token_id);
  if (it == active_.end() || it->second.until < std::chrono::steady_clock::now())
    return std::nullopt;
  QueueStatus st;
  st.state = QueueState::kActive;
  st.user_id = it->second.user_id;
  return st;
}

std::int64_t QueueStore::departures() {
  auto lease = pool_.acquire();
  auto r = lease->command({"GET", options_.prefix + "left"});
  return r.is_nil() ? 0 : std::stoll(r.as_string());
}

std::int64_t QueueStore::promote() {
  auto lease = pool_.acquire();
  return promote_script().run(*lease, keys(options_), base_args(options_)).as_integer();
}

void QueueStore::touch(const std::string& token_id) {
  auto args = base_args(options_);
  args.push_back(token_id);
  auto lease = pool_.acquire();
  touch_script().run(*lease, keys(options_), args);
}

std::vector<std::string> QueueStore::touch_command(const std::string& token_id) const {
  auto args = base_args(options_);
  args.push_back(token_id);
  return touch_script().evalsha(keys(options_), args);
}

void QueueStore::touched(const std::string& token_id, const redis::Reply* reply) {
  if (reply != nullptr && !reply->is_error()) return;
  if (reply != nullptr && redis::Script::is_noscript(*reply)) {
    touch(token_id);
    return;
  }
  throw RedisError("queue touch failed: " +
                       (reply != nullptr ? reply->error_message() : std::string("no reply")),
                   true);
}

void QueueStore::expire_user(std::int64_t user_id) {
  {
    std::lock_guard lock(cache_mu_);
    for (auto it = active_.begin(); it != active_.end();) {
      it = it->second.user_id == user_id ? active_.erase(it) : std::next(it);
    }
  }
  auto args = base_args(options_);
  args.push_back(std::to_string(user_id));
  auto lease = pool_.acquire();
  expire_user_script().run(*lease, keys(options_), args);
}

}  // namespace ticketing::reservation
