#include "ticketing/events/dlq.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "dlq_parts.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/event_producer.hpp"

namespace ticketing::events {

namespace {

using detail::classify_current;
using detail::Completion;
using detail::Failure;
using detail::LanePool;
using detail::Mailbox;

using Clock = std::chrono::steady_clock;

metrics::Counter& consumed_counter(const std::string& topic, const char* result) {
  return metrics::global().counter("events_consumed_total",
                                   "Records consumed, by topic and final outcome",
                                   {{"topic", topic}, {"result", result}});
}

metrics::Counter& dead_letter_counter(const std::string& topic) {
  return metrics::global().counter("events_dead_lettered_total",
                                   "Records handed to a dead-letter topic, by original topic",
                                   {{"topic", topic}});
}

metrics::Gauge& stalled_gauge(const TopicPartition& tp) {
  return metrics::global().gauge(
      "events_partition_stalled_seconds",
      "How long the record at the head of a partition has been failing (0: flowing)",
      {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
}

// From the event's occurredAt (stamped inside the producing service's
// transaction) to the end of this consumer's handler: commit to effect,
// across the outbox, Kafka and the handler. Fine buckets below 100 ms, where
// the pipeline's budget is; hosts' clocks must agree (NTP) to compare them.
metrics::Histogram& effect_histogram(const std::string& topic) {
  return metrics::global().histogram(
      "events_commit_to_effect_seconds",
      "From an event's occurredAt to the end of its handling here, by topic", {{"topic", topic}},
      metrics::pipeline_buckets());
}

metrics::Counter& retry_counter(const std::string& topic) {
  return metrics::global().counter("events_handler_retries_total",
                                   "Failed handler attempts that were retried, by topic",
                                   {{"topic", topic}});
}

// One record on its way through the loop.
struct Work {
  Message msg;
  std::optional<Envelope> envelope;
  std::string trace_id;
  int attempts = 0;                         // counted handler calls so far (1 for a poison pill)
  int unavailable = 0;                      // kUnavailable failures in a row, for their backoff
  std::string error;                        // last failure
  std::vector<Header> dead_letter_headers;  // of the last failure
  Clock::time_point first_failure{};        // unset while only held back by the gate
  DeadLetterCause cause = DeadLetterCause::kExhausted;
  bool refetch = false;  // later records of the partition were dropped: seek on release
};

// From the record's Kafka timestamp (its producer's send) to this loop's
// poll, and the handler's own time: the consumer's part of the pipeline.
metrics::Histogram& fetch_delay_histogram(const std::string& topic) {
  return metrics::global().histogram("events_fetch_delay_seconds",
                                     "From a record's Kafka timestamp to its poll here, by topic",
                                     {{"topic", topic}}, metrics::pipeline_buckets());
}
metrics::Histogram& handler_histogram(const std::string& topic) {
  return metrics::global().histogram("events_handler_seconds",
                                     "One successful handler call, by topic", {{"topic", topic}},
                                     metrics::pipeline_buckets());
}

// Records a lane offered to the batch handler, by what became of them.
metrics::Counter& batch_counter(const char* result) {
  return metrics::global().counter(
      "events_batch_records_total",
      "Records offered to a batch handler: batched (one call) or one_by_one (declined or failed)",
      {{"result", result}});
}

void observe_fetch_delay(const Message& m) {
  if (m.timestamp_ms <= 0) return;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  fetch_delay_histogram(m.topic).observe(
      static_cast<double>(std::max<std::int64_t>(0, now_ms - m.timestamp_ms)) / 1000.0);
}

void observe_effect(const Work& w) {
  std::optional<SystemTime> at;
  if (w.envelope) {
    at = parse_rfc3339(w.envelope->occurred_at);
  } else {
    // A handler that parses records itself (parse_envelopes off) handled a
    // valid one: read its occurredAt here.
    try {
      at = parse_rfc3339(parse_envelope(w.msg.value).occurred_at);
    } catch (const std::exception&) {
      return;
    }
  }
  if (!at) return;
  std::chrono::duration<double> age = std::chrono::system_clock::now() - *at;
  effect_histogram(w.msg.topic).observe(std::max(0.0, age.count()));
}

enum class Stage { kBackoff, kDlqInFlight, kDlqBackoff };

struct Blocked {
  Work work;
  Stage stage = Stage::kBackoff;
  Clock::time_point due{};
  std::uint64_t token = 0;  // matches a DLQ delivery report to this state
};

std::string field(const Work& w) {
  return w.envelope ? w.envelope->event_id : std::string();
}

}  // namespace

struct HandlingLoop::Impl {
  Impl(Consumer& c, Producer& p, EventHandler h, HandlingOptions o, const SchemaRegistry& s)
      : consumer(c), producer(p), handler(std::move(h)), options(std::move(o)), schemas(s) {
    group = options.consumer_group.empty() ? consumer.options().group_id : options.consumer_group;
    if (!options.stalls) options.stalls = std::make_shared<StallBoard>();
    options.concurrency = std::max(1, options.concurrency);
    if (options.concurrency > 1) lanes = std::make_unique<LanePool>(options.concurrency - 1);
  }

  Consumer& consumer;
  Producer& producer;
  EventHandler handler;
  HandlingOptions options;
  const SchemaRegistry& schemas;
  std::string group;

  std::map<TopicPartition, Blocked> blocked;
  std::set<TopicPartition> assigned;
  // Paused while the gate is closed; never also in `blocked` (a partition
  // that blocks leaves this set, one released while closed enters it).
  std::set<TopicPartition> gated;
  std::optional<Clock::time_point> gate_until;  // set while the gate is closed
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  std::uint64_t next_token = 0;
  Stats stats;
  std::minstd_rand rng{std::random_device{}()};
  std::unique_ptr<LanePool> lanes;  // concurrency > 1

  // The partition flows again (or is no longer ours).
  void unstall(const TopicPartition& tp) {
    options.stalls->clear(tp);
    stalled_gauge(tp).set(0);
  }

  void refresh_stalls() const {
    const auto now = Clock::now();
    for (const auto& [tp, b] : blocked) {
      if (b.work.first_failure == Clock::time_point{}) continue;  // held by the gate only
      stalled_gauge(tp).set(std::chrono::duration<double>(now - b.work.first_failure).count());
    }
  }

  bool gate_open(Clock::time_point now) {
    gate_until = options.gate ? options.gate(now) : std::nullopt;
    return !gate_until;
  }

  // Closed: every assigned partition is paused; open: the gate's are resumed.
  void apply_gate() {
    if (gate_open(Clock::now())) {
      for (const auto& tp : gated) consumer.resume(tp.topic, tp.partition);
      gated.clear();
      return;
    }
    for (const auto& tp : assigned) {
      if (blocked.count(tp) == 0 && gated.insert(tp).second) consumer.pause(tp.topic, tp.partition);
    }
  }

  void on_rebalance(RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
    // librdkafka keeps an application pause on a partition across unassign
    // and assign: a partition revoked while paused here would come back
    // paused for good. So: resume on revoke, and resume whatever is assigned
    // without a blocked record of ours (unless the gate holds it back).
    if (ev == RebalanceEvent::kAssigned) {
      for (const auto& tp : parts) {
        assigned.insert(tp);
        if (blocked.count(tp) > 0) continue;
        if (gate_until) {
          gated.insert(tp);
          consumer.pause(tp.topic, tp.partition);
        } else {
          consumer.resume(tp.topic, tp.partition);
        }
      }
    } else {
      for (const auto& tp : parts) {
        assigned.erase(tp);
        if (gated.erase(tp) > 0) consumer.resume(tp.topic, tp.partition);
        // The next owner starts at the blocked record: its own offset is
        // stored, to be committed with the revocation. Without it a group
        // that had committed nothing there would start where
        // auto.offset.reset says (latest: past the record).
        if (auto it = blocked.find(tp); it != blocked.end()) {
          consumer.store(tp, it->second.work.msg.offset);
          blocked.erase(it);
          ++stats.dropped_on_revoke;
          unstall(tp);
          consumer.resume(tp.topic, tp.partition);
          log::info("dropping blocked record of revoked partition",
                    {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
        }
      }
    }
    if (options.on_assignment) options.on_assignment({assigned.begin(), assigned.end()});
  }

  void block(const TopicPartition& tp, Blocked b, bool already_paused) {
    if (gated.erase(tp) > 0) already_paused = true;
    if (!already_paused) consumer.pause(tp.topic, tp.partition);
    if (b.work.first_failure != Clock::time_point{}) {
      options.stalls->update(tp, b.work.first_failure, b.work.attempts, b.work.error);
    }
    blocked.insert_or_assign(tp, std::move(b));
  }

  void release(const TopicPartition& tp, const Work& w) {
    if (w.refetch) {
      try {
        consumer.seek(tp.topic, tp.partition, w.msg.offset + 1);
      } catch (const std::exception& e) {
        // Resume anyway: a partition left paused would stall for good.
        log::error("seek after a blocked record failed",
                   {{"topic", tp.topic},
                    {"partition", std::to_string(tp.partition)},
                    {"error", e.what()}});
      }
    }
    if (gate_until) {
      gated.insert(tp);
    } else {
      consumer.resume(tp.topic, tp.partition);
    }
    unstall(tp);
  }

  // Parses and validates the record into w (false: a poison pill, w says
  // why), and reads its trace id.
  bool prepare(Work& w) {
    if (options.parse_envelopes) {
      try {
        Envelope e = parse_envelope(w.msg.value);
        schemas.validate(e.type, w.msg.value);
        w.envelope = std::move(e);
      } catch (const PoisonError& e) {
        w.attempts = 1;
        w.first_failure = Clock::now();
        w.cause = DeadLetterCause::kPoison;
        w.error = std::string("poison: ") + e.what();
        log::warn("poison record, dead-lettering", {{"topic", w.msg.topic},
                                                    {"partition", std::to_string(w.msg.partition)},
                                                    {"offset", std::to_string(w.msg.offset)},
                                                    {"error", w.error}});
        return false;
      }
    }
    if (const std::string* tpv = w.msg.header(kTraceparentHeader)) {
      w.trace_id = trace_id_from_traceparent(*tpv);
    }
    if (w.trace_id.empty() && w.envelope && is_valid_trace_id(w.envelope->trace_id)) {
      w.trace_id = w.envelope->trace_id;
    }
    return true;
  }

  // A record of a partition that is blocked: false when there is none.
  bool refetch_if_blocked(const Message& m) {
    auto it = blocked.find(TopicPartition{m.topic, m.partition});
    if (it == blocked.end()) return false;
    // Pausing drops the partition's prefetched records, so this is not
    // expected; if it happens, re-read them once the blocked one is settled.
    it->second.work.refetch = true;
    log::warn("record of a blocked partition polled; will re-read it",
              {{"topic", m.topic},
               {"partition", std::to_string(m.partition)},
               {"offset", std::to_string(m.offset)}});
    return true;
  }

  void process(Message m) {
    if (refetch_if_blocked(m)) return;
    TopicPartition tp{m.topic, m.partition};
    Work w;
    w.msg = std::move(m);
    if (!prepare(w)) {
      start_dead_letter(tp, std::move(w), false);
      return;
    }
    if (!gate_open(Clock::now())) {
      // Prefetched before the gate closed: it waits here, due at once, and
      // is handled first when the gate opens.
      Blocked b;
      b.due = Clock::now();
      b.work = std::move(w);
      block(tp, std::move(b), false);
      return;
    }
    attempt(tp, std::move(w), false);
  }

  // The handler's call, timed; throws what the handler throws.
  void call_handler(const Work& w) {
    const auto started = Clock::now();
    handler(Event{w.msg, w.envelope ? &*w.envelope : nullptr, w.trace_id, w.attempts + 1});
    handler_histogram(w.msg.topic)
        .observe(std::chrono::duration<double>(Clock::now() - started).count());
    observe_effect(w);
  }

  void attempt(const TopicPartition& tp, Work w, bool paused) {
    Failure f;
    try {
      call_handler(w);
      succeeded(tp, w, paused);
      return;
    } catch (...) {
      f = classify_current(options.retry);
    }
    failed(tp, std::move(w), std::move(f), paused);
  }

  void succeeded(const TopicPartition& tp, const Work& w, bool paused) {
    consumer.store(w.msg);
    ++stats.handled;
    consumed_counter(w.msg.topic, "ok").inc();
    if (paused) release(tp, w);
  }

  void failed(const TopicPartition& tp, Work w, Failure f, bool paused) {
    if (f.counted) ++w.attempts;
    w.unavailable = f.counted ? 0 : w.unavailable + 1;
    w.error = std::move(f.error);
    w.dead_letter_headers = std::move(f.headers);
    if (w.first_failure == Clock::time_point{}) w.first_failure = Clock::now();
    const bool exhausted = f.counted && f.limit > 0 && w.attempts >= f.limit;
    if (!f.final && !exhausted) {
      auto delay = options.retry.jittered(f.counted ? w.attempts : w.unavailable, rng);
      // A peer that is down knows best when to ask again (e.g. a breaker's
      // reopening); for a failed attempt the backoff is a floor.
      if (f.retry_after) delay = f.counted ? std::max(delay, *f.retry_after) : *f.retry_after;
      ++stats.retries;
      retry_counter(w.msg.topic).inc();
      log::warn("handler failed, will retry", {{"topic", w.msg.topic},
                                               {"partition", std::to_string(w.msg.partition)},
                                               {"offset", std::to_string(w.msg.offset)},
                                               {"event_id", field(w)},
                                               {"trace_id", w.trace_id},
                                               {"attempt", std::to_string(w.attempts)},
                                               {"backoff_ms", std::to_string(delay.count())},
                                               {"error", w.error}});
      Blocked b;
      b.stage = Stage::kBackoff;
      b.due = Clock::now() + delay;
      b.work = std::move(w);
      block(tp, std::move(b), paused);
      return;
    }
    w.cause = f.final ? f.cause : DeadLetterCause::kExhausted;
    log::error("handler failed, dead-lettering", {{"topic", w.msg.topic},
                                                  {"partition", std::to_string(w.msg.partition)},
                                                  {"offset", std::to_string(w.msg.offset)},
                                                  {"event_id", field(w)},
                                                  {"trace_id", w.trace_id},
                                                  {"attempts", std::to_string(w.attempts)},
                                                  {"error", w.error}});
    start_dead_letter(tp, std::move(w), paused);
  }

  // concurrency > 1: one record of a wave and what its call did.
  struct WaveItem {
    TopicPartition tp;
    Work work;
    bool attempted = false;
    bool ok = false;
    Failure failure;
  };

  std::size_t lane_of(const Message& m) const {
    const std::size_t h =
        std::hash<std::string_view>{}(m.topic) * 31U + std::hash<std::string_view>{}(m.key);
    return h % static_cast<std::size_t>(options.concurrency);
  }

  // Gathers the records a poll finds waiting behind `first` into one wave
  // and handles it. A record that cannot join (its partition blocked, the
  // gate closed, a poison pill) ends the wave: the wave is handled first,
  // then that record the one-by-one way.
  void process_wave(Message first) {
    std::vector<WaveItem> wave;
    const auto max_size = static_cast<std::size_t>(options.concurrency) * 4;
    std::optional<Message> next = std::move(first);
    while (next) {
      Message m = std::move(*next);
      next.reset();
      if (blocked.count(TopicPartition{m.topic, m.partition}) > 0 || !gate_open(Clock::now())) {
        run_wave(wave);
        process(std::move(m));
        return;
      }
      WaveItem item;
      item.tp = TopicPartition{m.topic, m.partition};
      item.work.msg = std::move(m);
      if (!prepare(item.work)) {
        run_wave(wave);
        if (!refetch_if_blocked(item.work.msg))
          start_dead_letter(item.tp, std::move(item.work), false);
        return;
      }
      wave.push_back(std::move(item));
      if (wave.size() >= max_size) break;
      next = consumer.poll(std::chrono::milliseconds(0));
      if (next) observe_fetch_delay(*next);
    }
    run_wave(wave);
  }

  void run_wave(std::vector<WaveItem>& wave) {
    // A rebalance served by the polls above may have taken partitions away:
    // their records are left to the next owner (nothing of them was stored).
    std::erase_if(wave, [this](const WaveItem& i) { return assigned.count(i.tp) == 0; });
    if (wave.empty()) return;
    std::vector<std::vector<WaveItem*>> by_lane(static_cast<std::size_t>(options.concurrency));
    for (auto& item : wave) by_lane[lane_of(item.work.msg)].push_back(&item);
    std::vector<std::function<void()>> jobs;
    for (auto& lane : by_lane) {
      if (!lane.empty()) jobs.emplace_back([this, &lane] { run_lane(lane); });
    }
    lanes->run_all(jobs);
    // In offset order per partition (the wave's order): stored up to the
    // first record that did not succeed, which takes the one-by-one path
    // with its partition paused; the rest of the partition is read again
    // when it is released.
    std::set<TopicPartition> stopped;
    for (auto& item : wave) {
      if (stopped.count(item.tp) > 0) continue;
      if (item.ok) {
        succeeded(item.tp, item.work, false);
        continue;
      }
      stopped.insert(item.tp);
      consumer.pause(item.tp.topic, item.tp.partition);
      item.work.refetch = true;
      if (item.attempted) {
        failed(item.tp, std::move(item.work), std::move(item.failure), true);
      } else {
        // Not reached: a lane skips a record only after an earlier one of
        // its partition failed. Should it happen, the record is due now.
        Blocked b;
        b.due = Clock::now();
        b.work = std::move(item.work);
        block(item.tp, std::move(b), true);
      }
    }
  }

  // One lane of a wave, on a pool thread: in order, and after a failure the
  // lane's later records of that partition are skipped (they will be read
  // again), so one key's records never overtake each other.
  void run_lane(const std::vector<WaveItem*>& lane) {
    if (lane.size() > 1 && options.batch_handler && run_batch(lane)) return;
    std::set<TopicPartition> failed_here;
    for (auto* item : lane) {
      if (failed_here.count(item->tp) > 0) continue;
      item->attempted = true;
      try {
        call_handler(item->work);
        item->ok = true;
      } catch (...) {
        item->failure = classify_current(options.retry);
        failed_here.insert(item->tp);
      }
    }
  }

  // The lane's records offered to the batch handler at once: true when it
  // handled them all. Its time counts as each record's handler time.
  bool run_batch(const std::vector<WaveItem*>& lane) {
    std::vector<Event> events;
    events.reserve(lane.size());
    for (const auto* item : lane) {
      const Work& w = item->work;
      events.push_back(
          Event{w.msg, w.envelope ? &*w.envelope : nullptr, w.trace_id, w.attempts + 1});
    }
    const auto started = Clock::now();
    bool handled = false;
    try {
      handled = options.batch_handler(events);
    } catch (const std::exception& e) {
      log::warn("batch handler failed; handling its records one by one",
                {{"topic", lane.front()->tp.topic},
                 {"records", std::to_string(lane.size())},
                 {"error", e.what()}});
    } catch (...) {
      log::warn("batch handler failed; handling its records one by one",
                {{"records", std::to_string(lane.size())}});
    }
    batch_counter(handled ? "batched" : "one_by_one").inc(lane.size());
    if (!handled) return false;
    const double took = std::chrono::duration<double>(Clock::now() - started).count();
    for (auto* item : lane) {
      item->attempted = true;
      item->ok = true;
      handler_histogram(item->work.msg.topic).observe(took);
      observe_effect(item->work);
    }
    return true;
  }

  void start_dead_letter(const TopicPartition& tp, Work w, bool paused) {
    Blocked b;
    b.token = ++next_token;
    b.stage = Stage::kDlqInFlight;
    Record r = make_dead_letter(w.msg, w.error, std::max(1, w.attempts), group, options.dlq_topic);
    r.headers.insert(r.headers.end(), w.dead_letter_headers.begin(), w.dead_letter_headers.end());
    const std::string dlq = r.topic;
    b.work = std::move(w);
    try {
      producer.produce(std::move(r), [mb = mailbox, token = b.token](const DeliveryReport& rep) {
        mb->put({token, rep});
      });
    } catch (const std::exception& e) {
      ++stats.dlq_failures;
      log::error("dead letter could not be enqueued; will retry",
                 {{"dlq_topic", dlq},
                  {"topic", b.work.msg.topic},
                  {"offset", std::to_string(b.work.msg.offset)},
                  {"error", e.what()}});
      b.stage = Stage::kDlqBackoff;
      b.due = Clock::now() + options.dlq_retry_backoff;
      block(tp, std::move(b), paused);
      return;
    }
    // Fast path: the ack usually arrives within milliseconds, and waiting for
    // it here spares the partition a pause/resume (and the refetch after it).
    if (auto rep = mailbox->take(b.token, options.dlq_ack_wait)) {
      settle(tp, std::move(b), *rep, paused);
      return;
    }
    block(tp, std::move(b), paused);  // slow path: settle_dead_letters() finishes it
  }

  // A dead letter's delivery report arrived; the record's partition is paused
  // when `paused`.
  void settle(const TopicPartition& tp, Blocked b, const DeliveryReport& rep, bool paused) {
    Work& w = b.work;
    if (!rep.ok) {
      ++stats.dlq_failures;
      log::error("dead letter not acknowledged; will retry",
                 {{"dlq_topic", rep.topic},
                  {"topic", w.msg.topic},
                  {"offset", std::to_string(w.msg.offset)},
                  {"error", rep.error}});
      b.stage = Stage::kDlqBackoff;
      b.due = Clock::now() + options.dlq_retry_backoff;
      block(tp, std::move(b), paused);
      return;
    }
    consumer.store(w.msg);
    ++stats.dead_lettered;
    if (w.cause == DeadLetterCause::kPoison) ++stats.poison;
    consumed_counter(w.msg.topic, "dead_lettered").inc();
    dead_letter_counter(w.msg.topic).inc();
    log::info("record dead-lettered", {{"topic", w.msg.topic},
                                       {"partition", std::to_string(w.msg.partition)},
                                       {"offset", std::to_string(w.msg.offset)},
                                       {"dlq_topic", rep.topic},
                                       {"dlq_offset", std::to_string(rep.offset)},
                                       {"event_id", field(w)}});
    if (options.on_dead_lettered) options.on_dead_lettered(w.msg, w.cause);
    if (paused) release(tp, w);
  }

  void settle_dead_letters() {
    std::vector<Completion> items;
    {
      std::lock_guard lock(mailbox->mutex);
      items.swap(mailbox->items);
    }
    for (auto& c : items) {
      auto it = std::find_if(blocked.begin(), blocked.end(), [&c](const auto& kv) {
        return kv.second.stage == Stage::kDlqInFlight && kv.second.token == c.token;
      });
      if (it == blocked.end()) continue;  // partition revoked meanwhile
      auto node = blocked.extract(it);
      settle(node.key(), std::move(node.mapped()), c.report, true);
    }
  }

  // Earliest due first: after an outage the record that waited longest
  // probes the peer. Handler retries wait while the gate is closed, which
  // a retry that fails can close for those after it.
  void run_due() {
    const auto now = Clock::now();
    std::vector<std::pair<Clock::time_point, TopicPartition>> due;
    for (const auto& [tp, b] : blocked) {
      if (b.stage != Stage::kDlqInFlight && b.due <= now) due.emplace_back(b.due, tp);
    }
    std::sort(due.begin(), due.end());
    for (const auto& [at, tp] : due) {
      auto it = blocked.find(tp);
      if (it == blocked.end()) continue;
      if (it->second.stage == Stage::kBackoff && !gate_open(Clock::now())) continue;
      auto node = blocked.extract(it);
      Blocked b = std::move(node.mapped());
      if (b.stage == Stage::kBackoff) {
        attempt(tp, std::move(b.work), true);
      } else {
        start_dead_letter(tp, std::move(b.work), true);
      }
    }
  }

  std::chrono::milliseconds wait_budget(std::chrono::milliseconds max_wait) const {
    auto wait = max_wait;
    const auto now = Clock::now();
    auto until = [&](Clock::time_point t) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - now);
      wait = std::min(wait, std::max(left, std::chrono::milliseconds(0)));
    };
    if (gate_until) until(*gate_until + std::chrono::milliseconds(1));
    for (const auto& [tp, b] : blocked) {
      if (b.stage == Stage::kDlqInFlight) {
        wait = std::min(wait, std::chrono::milliseconds(10));
      } else if (b.stage == Stage::kDlqBackoff || !gate_until) {
        until(b.due);
      }
    }
    return wait;
  }

  bool dead_letters_in_flight() const {
    return std::any_of(blocked.begin(), blocked.end(),
                       [](const auto& kv) { return kv.second.stage == Stage::kDlqInFlight; });
  }
};

HandlingLoop::HandlingLoop(Consumer& consumer, Producer& dlq_producer, EventHandler handler,
                           HandlingOptions options, const SchemaRegistry& schemas)
    : impl_(std::make_unique<Impl>(consumer, dlq_producer, std::move(handler), std::move(options),
                                   schemas)) {
  // Every input's dead-letter series exists from the start at 0, so that
  // Prometheus sees the first dead letter as an increase.
  for (const auto& topic : consumer.options().topics) dead_letter_counter(topic);
  Impl* self = impl_.get();
  consumer.set_rebalance_listener(
      [self](RebalanceEvent ev, const std::vector<TopicPartition>& parts) {
        self->on_rebalance(ev, parts);
      });
}

HandlingLoop::~HandlingLoop() {
  if (!impl_) return;
  impl_->consumer.set_rebalance_listener(nullptr);
  // The board may outlive this loop (the host's): what was blocked here is
  // no longer ours to report.
  for (const auto& [tp, b] : impl_->blocked) impl_->unstall(tp);
}

void HandlingLoop::poll_once(std::chrono::milliseconds max_wait) {
  Impl& s = *impl_;
  s.settle_dead_letters();
  s.apply_gate();
  s.run_due();
  s.apply_gate();  // a retry may have closed it
  s.refresh_stalls();
  auto msg = s.consumer.poll(s.wait_budget(max_wait));
  if (msg) {
    observe_fetch_delay(*msg);
    if (s.lanes) {
      s.process_wave(std::move(*msg));
    } else {
      s.process(std::move(*msg));
    }
  }
  s.settle_dead_letters();
  if (s.options.on_polled) s.options.on_polled(*this);
}

void HandlingLoop::run(const std::stop_token& stop, std::chrono::milliseconds poll_timeout,
                       std::chrono::milliseconds drain_timeout) {
  while (!stop.stop_requested()) poll_once(poll_timeout);
  const auto deadline = Clock::now() + drain_timeout;
  while (impl_->dead_letters_in_flight() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    impl_->settle_dead_letters();
  }
}

HandlingLoop::Stats HandlingLoop::stats() const {
  return impl_->stats;
}

std::size_t HandlingLoop::blocked_partitions() const {
  return impl_->blocked.size();
}

std::size_t HandlingLoop::paused_partitions() const {
  return impl_->blocked.size() + impl_->gated.size();
}

std::size_t HandlingLoop::assigned_partitions() const {
  return impl_->assigned.size();
}

const StallBoard& HandlingLoop::stalls() const {
  return *impl_->options.stalls;
}

}  // namespace ticketing::events
