#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "ticketing/redis/client.hpp"

namespace ticketing::redis {

struct PoolOptions {
  RedisOptions redis;
  std::size_t max_size = 8;
  std::chrono::milliseconds acquire_timeout{1000};
};

class Pool;

// A client on loan; returned on destruction. A client whose connection
// failed comes back disconnected and reconnects on its next command.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  Client& operator*() const noexcept { return *client_; }
  Client* operator->() const noexcept { return client_.get(); }
  explicit operator bool() const noexcept { return client_ != nullptr; }

 private:
  friend class Pool;
  Lease(Pool* pool, std::unique_ptr<Client> client) : pool_(pool), client_(std::move(client)) {}
  void release() noexcept;

  Pool* pool_ = nullptr;
  std::unique_ptr<Client> client_;
};

// Fixed-size, thread-safe pool of lazily connecting clients. Must outlive
// its leases.
class Pool {
 public:
  explicit Pool(PoolOptions options);
  explicit Pool(RedisOptions redis, std::size_t max_size = 8);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Throws RedisError(retryable) when no client is free within the timeout.
  Lease acquire();
  Lease acquire(std::chrono::milliseconds timeout);

  // Convenience: acquire + command.
  Reply command(const Command& args);
  // Acquire + PING; false instead of throwing (readiness checks).
  bool ping(std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) noexcept;

  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Client> client) noexcept;

  PoolOptions options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Client>> idle_;  // guarded by mutex_
  std::size_t created_ = 0;                    // guarded by mutex_
};

}  // namespace ticketing::redis
