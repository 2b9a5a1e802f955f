// The parts of dlq.hpp around the loop: dead-letter records, backoff, stalls.
#include <algorithm>
#include <new>
#include <random>
#include <system_error>

#include "dlq_parts.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::events {

namespace {

constexpr std::size_t kMaxErrorHeader = 4096;

}  // namespace

std::string dlq_topic_for(std::string_view topic) {
  constexpr std::string_view kNotifications = "notifications.";
  if (topic.substr(0, kNotifications.size()) == kNotifications) {
    return std::string(topics::kNotificationsDlq);
  }
  return std::string(topic) + ".dlq";
}

Record make_dead_letter(const Message& message, std::string_view error, int attempts,
                        std::string_view consumer_group, std::string dlq_topic) {
  Record r;
  r.topic = dlq_topic.empty() ? dlq_topic_for(message.topic) : std::move(dlq_topic);
  r.key = message.key;
  r.value = message.value;
  r.headers = message.headers;
  auto add = [&r](std::string_view k, std::string v) {
    r.headers.push_back({std::string(k), std::move(v)});
  };
  add(dlq_header::kOriginalTopic, message.topic);
  add(dlq_header::kOriginalPartition, std::to_string(message.partition));
  add(dlq_header::kOriginalOffset, std::to_string(message.offset));
  add(dlq_header::kOriginalKey, message.key);
  add(dlq_header::kError, std::string(error.substr(0, kMaxErrorHeader)));
  add(dlq_header::kAttempts, std::to_string(attempts));
  add(dlq_header::kConsumerGroup, std::string(consumer_group));
  add(dlq_header::kFailedAt, now_rfc3339());
  return r;
}

std::chrono::milliseconds RetryPolicy::backoff(int failed_attempts) const {
  double ms = static_cast<double>(initial_backoff.count());
  for (int i = 1; i < failed_attempts && ms < static_cast<double>(max_backoff.count()); ++i) {
    ms *= multiplier;
  }
  ms = std::min(ms, static_cast<double>(max_backoff.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::chrono::milliseconds RetryPolicy::jittered(int failed_attempts, std::minstd_rand& rng) const {
  const auto full = backoff(failed_attempts);
  const double spread = std::clamp(jitter, 0.0, 1.0) * static_cast<double>(full.count());
  std::uniform_real_distribution<double> cut(0.0, spread);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(full.count()) - cut(rng)));
}

void StallBoard::update(const TopicPartition& tp, Clock::time_point since, int attempts,
                        const std::string& error) {
  std::lock_guard lock(mutex_);
  entries_.insert_or_assign(tp, Entry{since, attempts, error});
}

void StallBoard::clear(const TopicPartition& tp) {
  std::lock_guard lock(mutex_);
  entries_.erase(tp);
}

std::vector<StallBoard::Stall> StallBoard::longer_than(Clock::duration threshold) const {
  const auto now = Clock::now();
  std::vector<Stall> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [tp, e] : entries_) {
      if (now - e.since >= threshold) out.push_back({tp, now - e.since, e.attempts, e.error});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Stall& a, const Stall& b) { return a.stalled_for > b.stalled_for; });
  return out;
}

namespace detail {

Failure classify_current(const RetryPolicy& retry) {
  Failure f;
  auto dead_now = [&f](DeadLetterCause cause) {
    f.final = true;
    f.cause = cause;
  };
  try {
    throw;
  } catch (const HandlingError& e) {
    f.error = e.what();
    f.retry_after = e.retry_after();
    f.headers = e.dead_letter_headers();
    switch (e.kind()) {
      case HandlingError::Kind::kPoison:
        f.error = "poison: " + f.error;
        dead_now(DeadLetterCause::kPoison);
        break;
      case HandlingError::Kind::kPermanent:
        dead_now(DeadLetterCause::kRejected);
        break;
      case HandlingError::Kind::kTransient:
        f.limit = retry.max_attempts;
        break;
      case HandlingError::Kind::kUnavailable:
        f.counted = false;
        break;
    }
  } catch (const InfraError& e) {
    f.error = e.what();
    if (e.retryable()) {
      f.limit = retry.max_infra_attempts;
    } else {
      dead_now(DeadLetterCause::kRejected);
    }
  } catch (const PoisonError& e) {
    f.error = std::string("poison: ") + e.what();
    dead_now(DeadLetterCause::kPoison);
  } catch (const std::bad_alloc& e) {
    f.error = e.what();
    f.limit = retry.max_infra_attempts;  // memory comes back
  } catch (const std::system_error& e) {
    f.error = e.what();
    f.limit = retry.max_infra_attempts;  // threads, descriptors, sockets come back
  } catch (const std::exception& e) {
    f.error = e.what();
    f.limit = retry.max_attempts;
  } catch (...) {
    f.error = "unknown exception";
    f.limit = retry.max_attempts;
  }
  return f;
}

}  // namespace detail

namespace detail {

LanePool::LanePool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

LanePool::~LanePool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void LanePool::run_all(std::vector<std::function<void()>>& jobs) {
  if (jobs.empty()) return;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 1; i < jobs.size(); ++i) queue_.push_back(&jobs[i]);
    pending_ += jobs.size() - 1;
  }
  wake_.notify_all();
  jobs.front()();
  std::unique_lock lock(mutex_);
  // With no threads (or while they are busy) this thread takes jobs too.
  while (pending_ > 0) {
    if (!queue_.empty()) {
      auto* job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      (*job)();
      lock.lock();
      --pending_;
      continue;
    }
    done_.wait(lock);
  }
}

void LanePool::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping
    auto* job = queue_.front();
    queue_.pop_front();
    lock.unlock();
    (*job)();
    lock.lock();
    if (--pending_ == 0) done_.notify_all();
  }
}

}  // namespace detail

}  // namespace ticketing::events
