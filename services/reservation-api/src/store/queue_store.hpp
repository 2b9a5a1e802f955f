#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ticketing/redis/reply.hpp"

namespace ticketing::redis {
class Pool;
class Script;
}  // namespace ticketing::redis

namespace ticketing::reservation {

enum class QueueState { kWaiting, kActive, kExpired };  // kExpired: unknown or lapsed

struct QueueStatus {
  QueueState state = QueueState::kExpired;
  std::int64_t position = 0;  // 1-based among the waiting; 0 when active
  std::int64_t user_id = 0;
  // WAITING only: how many had left the waiting set when the position was
  // read. Positions only fall as people leave, so a position p read at
  // departed d is at least p - (departures() - d) later (see QueueWatch).
  std::int64_t departed = 0;
};

struct QueueOptions {
  std::string prefix = "reservation:";
  std::int64_t max_active = 100;
  std::chrono::seconds active_ttl{600};
  // Waiting users at most; beyond, enter() answers full.
  std::int64_t max_waiting = 200000;
  // A waiting user who has not asked for their place this long leaves the queue.
  std::chrono::seconds waiting_ttl{120};
  // Admissions per second at most, across instances (0 = as fast as places
  // free up): a wave of lapsed places lets people in over time, not at once.
  std::int64_t admit_per_second = 0;
  // Token and user keys expire after this even if nothing ends them.
  std::chrono::seconds token_lifetime{86400};
  // How long an ACTIVE answer may be reused in process by peek_cached()
  // (catalogue reads); 0 = never.
  std::chrono::milliseconds state_cache{100};
};

// The waiting queue in Redis. Every state change is one Lua script, so any
// number of reservation-api instances may share it:
//   <p>seq                 INCR arrival counter
//   <p>waiting             ZSET token id -> arrival sequence (FIFO)
//   <p>seen                ZSET waiting token id -> last time its user asked (unix ms)
//   <p>left                INCR how many ever left the waiting set (admitted, lapsed, ended)
//   <p>admit               HASH token bucket pacing admissions (tokens, at), with a TTL
//   <p>active              ZSET token id -> lapse deadline (unix ms)
//   <p>tok:<token id>      HASH uid, token, state (WAITING | ACTIVE | EXPIRED), with a TTL
//   <p>user:<user id>      the user's current token id (one place per user), with a TTL
//   <p>admitted            STREAM uid, at, until: users admitted after waiting, until
//                          AdmissionNotices has published them (at most ~100,000)
class QueueStore {
 public:
  QueueStore(redis::Pool& pool, QueueOptions options);

  struct Entered {
    bool created = false;
    bool full = false;  // max_waiting reached: nothing filed
    std::string token;
    QueueStatus status;  // the place right after (not when full), as status() would answer
  };
  // Idempotent per user: returns the user's live token, or files `new_token`
  // (token id `token_id`) at the back of the queue unless it is full.
  Entered enter(std::int64_t user_id, const std::string& token_id, const std::string& new_token);

  // Admits waiting users up to the cap (and evicts lapsed ones), then reports.
  QueueStatus status(const std::string& token_id);
  // Cheap check without promotion (catalogue routes).
  QueueStatus peek(const std::string& token_id);
  // An ACTIVE state seen by peek()/status() of this process less than
  // state_cache ago, else nullopt (then ask peek()). Never blocks. Only
  // ACTIVE is remembered, so WAITING and ended tokens are always asked live;
  // an ending seen elsewhere shows here within state_cache, one done by this
  // process (expire_user) at once.
  [[nodiscard]] std::optional<QueueStatus> peek_cached(const std::string& token_id) const;
  // The <p>left counter: one GET, for QueueWatch's rounds.
  std::int64_t departures();
  // Evicts lapsed active tokens and admits the next waiting ones. Returns how many were admitted.
  std::int64_t promote();
  // A hold keeps the token active for another active_ttl.
  void touch(const std::string& token_id);
  // touch() as a command to pipeline with others (one round trip after a
  // hold); hand its reply (nullptr: the pipeline failed) to touched(), which
  // runs the script again when the server did not know it yet.
  [[nodiscard]] std::vector<std::string> touch_command(const std::string& token_id) const;
  void touched(const std::string& token_id, const redis::Reply* reply);
  // After a confirmed payment: the user's current token ends.
  void expire_user(std::int64_t user_id);

  [[nodiscard]] const QueueOptions& options() const { return options_; }

 private:
  // Runs a status script (status or peek) for the token; remembers the answer.
  QueueStatus ask(const redis::Script& script, const std::string& token_id);
  void remember(const std::string& token_id, const QueueStatus& st);

  redis::Pool& pool_;
  QueueOptions options_;
  struct Cached {
    std::int64_t user_id;
    std::chrono::steady_clock::time_point until;
  };
  mutable std::mutex cache_mu_;
  std::unordered_map<std::string, Cached> active_;  // token id -> ACTIVE until
};

}  // namespace ticketing::reservation
