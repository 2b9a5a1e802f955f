#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "ticketing/db/connection.hpp"

namespace ticketing::db {

struct PoolOptions {
  ConnectOptions connect;
  std::size_t max_size = 8;
  std::chrono::milliseconds acquire_timeout{2000};
  // An idle connection older than this is pinged before it is handed out; a
  // dead socket is detected without a round trip regardless.
  std::chrono::milliseconds validate_after_idle{5000};
};

class Pool;

// A connection on loan. Returns it to the pool on destruction; a broken
// connection, or one left inside a transaction, is closed instead so the next
// acquire reconnects.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  Connection& operator*() const noexcept { return *conn_; }
  Connection* operator->() const noexcept { return conn_.get(); }
  [[nodiscard]] Connection& get() const noexcept { return *conn_; }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  // Close the connection instead of returning it.
  void discard() noexcept;

 private:
  friend class Pool;
  Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  void release() noexcept;

  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
};

// Fixed-size, lazily connecting, thread-safe connection pool. The pool must
// outlive its leases.
class Pool {
 public:
  explicit Pool(PoolOptions options);
  explicit Pool(ConnectOptions connect, std::size_t max_size = 8);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Waits up to the timeout for a free slot; throws DbError(retryable) on
  // timeout or when connecting fails.
  Lease acquire();
  Lease acquire(std::chrono::milliseconds timeout);

  // Acquire + ping; false instead of throwing (readiness checks).
  bool ping(std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) noexcept;

  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t open_connections() const;
  [[nodiscard]] std::size_t idle_connections() const;

 private:
  friend class Lease;
  struct Idle {
    std::unique_ptr<Connection> conn;
    std::chrono::steady_clock::time_point since;
  };
  void give_back(std::unique_ptr<Connection> conn) noexcept;

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Idle> idle_;  // guarded by mutex_; back() is the most recently used
  std::size_t open_ = 0;    // guarded by mutex_; idle + leased + connecting
};

}  // namespace ticketing::db
