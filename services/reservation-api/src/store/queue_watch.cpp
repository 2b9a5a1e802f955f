#include "store/queue_watch.hpp"

#include <algorithm>
#include <exception>

#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"

namespace ticketing::reservation {

namespace {

metrics::Counter& answer_counter(const char* why) {
  return metrics::global().counter("reservation_queue_long_poll_answers_total",
                                   "Parked queue-status long polls answered, by reason",
                                   {{"reason", why}});
}

// Looked up once: a registry lookup builds label maps under its lock.
struct AnswerCounters {
  metrics::Counter& unavailable;
  metrics::Counter& state;
  metrics::Counter& position;
  metrics::Counter& deadline;
  metrics::Counter& stopping;
};

const AnswerCounters& answers() {
  static const AnswerCounters counters{answer_counter("unavailable"), answer_counter("state"),
                                       answer_counter("position"), answer_counter("deadline"),
                                       answer_counter("stopping")};
  return counters;
}

}  // namespace

QueueWatch::QueueWatch(QueueStore& store, QueueWatchOptions options)
    : store_(store), options_(options) {}

QueueWatch::~QueueWatch() {
  stop();
}

void QueueWatch::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  accepting_ = true;
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void QueueWatch::stop() {
  {
    std::lock_guard lk(mu_);
    accepting_ = false;
  }
  if (thread_.joinable()) {
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
  }
}

bool QueueWatch::park(Waiter waiter) {
  std::lock_guard lk(mu_);
  if (!accepting_ || parked_.load() >= options_.max_parked) return false;
  incoming_.push_back(std::move(waiter));
  parked_.fetch_add(1);
  cv_.notify_all();
  return true;
}

void QueueWatch::answer(Waiter& w, const std::optional<QueueStatus>& st) {
  try {
    w.answer(st);
  } catch (const std::exception& e) {
    log::error("queue long poll answer failed", {{"error", e.what()}});
  }
}

void QueueWatch::run(const std::stop_token& stop) {
  std::vector<Waiter> waiters;
  auto& gauge = metrics::global().gauge("reservation_queue_long_polls",
                                        "Queue-status long polls parked in this process");
  while (!stop.stop_requested()) {
    {
      std::unique_lock lk(mu_);
      if (waiters.empty() && incoming_.empty()) {
        cv_.wait(lk, stop, [this] { return !incoming_.empty(); });
      } else {
        cv_.wait_for(lk, stop, options_.interval, [] { return false; });
      }
      std::move(incoming_.begin(), incoming_.end(), std::back_inserter(waiters));
      incoming_.clear();
    }
    if (stop.stop_requested()) break;
    round(waiters, false);
    gauge.set(static_cast<double>(waiters.size()));
  }
  {
    std::lock_guard lk(mu_);
    std::move(incoming_.begin(), incoming_.end(), std::back_inserter(waiters));
    incoming_.clear();
  }
  round(waiters, true);
  gauge.set(0);
}

void QueueWatch::round(std::vector<Waiter>& waiters, bool final) {
  if (waiters.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  std::int64_t departures = 0;
  if (!final) {
    try {
      departures = store_.departures();
    } catch (const std::exception& e) {
      log::warn("queue watch: reading departures failed", {{"error", e.what()}});
      // Redis is down: only the deadlines are looked at (answered 503).
      departures = -1;
    }
  }
  // Due: the deadline passed, or the position may have fallen below `below`.
  auto due = [&](const Waiter& w) {
    if (final || now >= w.deadline) return true;
    if (departures < 0) return false;
    return w.seen.position - (departures - w.seen.departed) < w.below;
  };
  std::size_t checks = 0;
  std::vector<Waiter> kept;
  kept.reserve(waiters.size());
  for (auto& w : waiters) {
    if (!due(w) || (!final && checks >= options_.max_checks && now < w.deadline)) {
      kept.push_back(std::move(w));
      continue;
    }
    ++checks;
    std::optional<QueueStatus> st;
    try {
      st = store_.status(w.token_id);
    } catch (const std::exception& e) {
      log::warn("queue watch: status failed", {{"error", e.what()}});
    }
    if (!st) {
      answers().unavailable.inc();
      answer(w, st);
    } else if (st->state != QueueState::kWaiting) {
      answers().state.inc();
      answer(w, st);
    } else if (st->position < w.below) {
      answers().position.inc();
      answer(w, st);
    } else if (final || now >= w.deadline) {
      (final ? answers().stopping : answers().deadline).inc();
      answer(w, st);
    } else {
      w.seen = *st;  // not yet: a tighter bound for the next rounds
      kept.push_back(std::move(w));
      continue;
    }
    parked_.fetch_sub(1);
  }
  waiters.swap(kept);
}

}  // namespace ticketing::reservation
