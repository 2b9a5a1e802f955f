#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ticketing::redis {
class Pool;
}

namespace ticketing::reservation {

enum class QueueState { kWaiting, kActive, kExpired };  // kExpired: unknown or lapsed

struct QueueStatus {
  QueueState state = QueueState::kExpired;
  std::int64_t position = 0;  // 1-based among the waiting; 0 when active
  std::int64_t user_id = 0;
};

struct QueueOptions {
  std::string prefix = "reservation:";
  std::int64_t max_active = 100;
  std::chrono::seconds active_ttl{600};
};

// The waiting queue in Redis. Every state change is one Lua script, so any
// number of reservation-api instances may share it:
//   <p>seq                 INCR arrival counter
//   <p>waiting             ZSET token id -> arrival sequence (FIFO)
//   <p>active              ZSET token id -> lapse deadline (unix ms)
//   <p>tok:<token id>      HASH uid, token, state (WAITING | ACTIVE | EXPIRED)
//   <p>user:<user id>      the user's current token id (one place per user)
class QueueStore {
 public:
  QueueStore(redis::Pool& pool, QueueOptions options);

  struct Entered {
    bool created = false;
    std::string token;
  };
  // Idempotent per user: returns the user's live token, or files `new_token`
  // (token id `token_id`) at the back of the queue.
  Entered enter(std::int64_t user_id, const std::string& token_id, const std::string& new_token);

  // Admits waiting users up to the cap (and evicts lapsed ones), then reports.
  QueueStatus status(const std::string& token_id);
  // Cheap check without promotion (catalogue and hold routes).
  QueueStatus peek(const std::string& token_id);
  // Evicts lapsed active tokens and admits the next waiting ones. Returns how many were admitted.
  std::int64_t promote();
  // A hold keeps the token active for another active_ttl.
  void touch(const std::string& token_id);
  // After a confirmed payment: the user's current token ends.
  void expire_user(std::int64_t user_id);

  [[nodiscard]] const QueueOptions& options() const { return options_; }

 private:
  redis::Pool& pool_;
  QueueOptions options_;
};

}  // namespace ticketing::reservation
