#include "ticketing/db/pool.hpp"

#include <utility>

#include <fmt/format.h>

#include "ticketing/common/log.hpp"

namespace ticketing::db {

Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

Lease::~Lease() {
  release();
}

void Lease::discard() noexcept {
  if (conn_) conn_->invalidate();
  release();
}

void Lease::release() noexcept {
  if (pool_ != nullptr && conn_) pool_->give_back(std::move(conn_));
  conn_.reset();
  pool_ = nullptr;
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
  if (options_.max_size == 0) options_.max_size = 1;
}

Pool::Pool(ConnectOptions connect, std::size_t max_size)
    : Pool(PoolOptions{std::move(connect), max_size}) {}

Pool::~Pool() = default;

Lease Pool::acquire() {
  return acquire(options_.acquire_timeout);
}

Lease Pool::acquire(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!idle_.empty()) {
      Idle item = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      bool ok = item.conn->looks_alive();
      if (ok && std::chrono::steady_clock::now() - item.since > options_.validate_after_idle) {
        try {
          item.conn->ping();
        } catch (const DbError&) {
          ok = false;
        }
      }
      if (ok) return Lease(this, std::move(item.conn));
      log::info("db pool: dropping dead idle connection",
                {{"server_id", std::to_string(item.conn->server_id())}});
      item.conn.reset();  // closes outside the lock
      lock.lock();
      --open_;
    }
    if (open_ < options_.max_size) {
      ++open_;
      lock.unlock();
      try {
        return Lease(this, std::make_unique<Connection>(options_.connect));
      } catch (...) {
        lock.lock();
        --open_;
        cv_.notify_one();
        throw;
      }
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.max_size) {
      throw DbError(fmt::format("pool exhausted: no connection free within {} ms ({} open)",
                                timeout.count(), open_),
                    true);
    }
  }
}

void Pool::give_back(std::unique_ptr<Connection> conn) noexcept {
  // A session left inside a transaction would leak its locks and snapshot to
  // the next borrower: close it instead.
  if (conn->broken() || conn->in_transaction()) {
    conn.reset();
    std::lock_guard lock(mutex_);
    --open_;
    cv_.notify_one();
    return;
  }
  std::lock_guard lock(mutex_);
  idle_.push_back(Idle{std::move(conn), std::chrono::steady_clock::now()});
  cv_.notify_one();
}

bool Pool::ping(std::chrono::milliseconds timeout) noexcept {
  try {
    Lease lease = acquire(timeout);
    lease->ping();
    return true;
  } catch (...) {
    return false;
  }
}

std::size_t Pool::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

std::size_t Pool::idle_connections() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

}  // namespace ticketing::db
