#pragma once
// Private pieces of the HandlingLoop (dlq.cpp): how a failure is treated and
// where dead-letter acks wait for the polling thread.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/events/dlq.hpp"

namespace ticketing::events::detail {

// How the loop treats one failed handler call (see dlq.hpp's contract).
struct Failure {
  std::string error;
  bool counted = true;
  bool final = false;  // dead-letter now, whatever the count
  int limit = 0;       // counted calls before the DLQ; 0 = no limit
  DeadLetterCause cause = DeadLetterCause::kExhausted;
  std::optional<std::chrono::milliseconds> retry_after;
  std::vector<Header> headers;
};

// Classifies the exception in flight; call it from a catch block only.
Failure classify_current(const RetryPolicy& retry);

struct Completion {
  std::uint64_t token;
  DeliveryReport report;
};

// Filled by the producer's delivery thread, drained by the polling thread.
// Shared so a late report after the loop is gone touches nothing freed.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Completion> items;

  void put(Completion c) {
    {
      std::lock_guard lock(mutex);
      items.push_back(std::move(c));
    }
    cv.notify_all();
  }
  // Waits for the report of one dead letter and takes it out of the box.
  std::optional<DeliveryReport> take(std::uint64_t token, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    std::optional<DeliveryReport> out;
    cv.wait_for(lock, timeout, [&] {
      auto it = std::find_if(items.begin(), items.end(),
                             [token](const Completion& c) { return c.token == token; });
      if (it == items.end()) return false;
      out = std::move(it->report);
      items.erase(it);
      return true;
    });
    return out;
  }
};

// The threads a HandlingLoop with concurrency > 1 runs its lanes on.
class LanePool {
 public:
  explicit LanePool(int threads);
  ~LanePool();  // waits for the threads
  LanePool(const LanePool&) = delete;
  LanePool& operator=(const LanePool&) = delete;

  // Runs every job (none may throw), the first on the calling thread, the
  // others on the pool's threads, and returns when all are done.
  void run_all(std::vector<std::function<void()>>& jobs);

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<std::function<void()>*> queue_;
  std::size_t pending_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ticketing::events::detail
