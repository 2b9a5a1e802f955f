#include "ticketing/redis/pool.hpp"

#include <utility>

#include <fmt/format.h>

namespace ticketing::redis {

Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), client_(std::move(other.client_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    client_ = std::move(other.client_);
  }
  return *this;
}

Lease::~Lease() {
  release();
}

void Lease::release() noexcept {
  if (pool_ != nullptr && client_) pool_->give_back(std::move(client_));
  client_.reset();
  pool_ = nullptr;
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
  if (options_.max_size == 0) options_.max_size = 1;
}

Pool::Pool(RedisOptions redis, std::size_t max_size)
    : Pool(PoolOptions{std::move(redis), max_size}) {}

Pool::~Pool() = default;

Lease Pool::acquire() {
  return acquire(options_.acquire_timeout);
}

Lease Pool::acquire(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const bool ok =
      cv_.wait_for(lock, timeout, [&] { return !idle_.empty() || created_ < options_.max_size; });
  if (!ok) {
    throw RedisError(fmt::format("pool exhausted: no client free within {} ms", timeout.count()),
                     true);
  }
  if (!idle_.empty()) {
    auto client = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(client));
  }
  ++created_;
  return Lease(this, std::make_unique<Client>(options_.redis));  // connects on first use
}

void Pool::give_back(std::unique_ptr<Client> client) noexcept {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(client));
  cv_.notify_one();
}

Reply Pool::command(const Command& args) {
  return acquire()->command(args);
}

bool Pool::ping(std::chrono::milliseconds timeout) noexcept {
  try {
    acquire(timeout)->ping();
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace ticketing::redis
