#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/queue_store.hpp"

namespace ticketing::reservation {

struct QueueWatchOptions {
  // How often parked waiters are looked at: one Redis GET a round, plus one
  // status script for each waiter whose answer may be due.
  std::chrono::milliseconds interval{50};
  // Parked waiters at most (per process); beyond, the caller answers at once.
  std::size_t max_parked = 20000;
  // Status scripts at most per round; the rest wait for the next round.
  std::size_t max_checks = 1000;
};

// Long polls of the queue position (GET /v1/queue/status?waitSeconds=...).
// A parked waiter is answered once its position is below `below`, its state
// is no longer WAITING, or its deadline passes. Positions only fall as people
// leave the waiting set, and Redis counts departures (<p>left), so a round
// costs one GET: a waiter's position p read at departures d is at least
// p - (now - d); only waiters whose bound reaches `below` (or whose deadline
// passed) get a status script, which also keeps their place alive and
// promotes like a poll. One thread; answers run on it.
class QueueWatch {
 public:
  // nullopt: Redis failed (the caller answers 503).
  using Answer = std::function<void(const std::optional<QueueStatus>&)>;
  struct Waiter {
    std::string token_id;
    std::int64_t below = 1;  // answer once position < below
    QueueStatus seen;        // WAITING, as read when parking (position, departed)
    std::chrono::steady_clock::time_point deadline;
    Answer answer;
  };

  QueueWatch(QueueStore& store, QueueWatchOptions options);
  ~QueueWatch();
  QueueWatch(const QueueWatch&) = delete;
  QueueWatch& operator=(const QueueWatch&) = delete;

  void start();
  // Answers every parked waiter (fresh status) and joins the thread.
  void stop();
  // False when max_parked waiters wait already (or stopped): answer now.
  bool park(Waiter waiter);
  [[nodiscard]] std::size_t parked() const { return parked_.load(); }

 private:
  void run(const std::stop_token& stop);
  void round(std::vector<Waiter>& waiters, bool final);
  static void answer(Waiter& w, const std::optional<QueueStatus>& st);

  QueueStore& store_;
  QueueWatchOptions options_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<Waiter> incoming_;
  bool accepting_ = false;
  std::atomic<std::size_t> parked_{0};
  std::jthread thread_;
};

}  // namespace ticketing::reservation
