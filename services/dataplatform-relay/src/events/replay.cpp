#include "events/replay.hpp"

#include <atomic>
#include <charconv>
#include <cstdio>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/common/config.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/producer.hpp"

namespace ticketing::relay {

namespace {

using events::TopicPartition;
using std::chrono::milliseconds;

struct Selection {
  bool dry_run = false;
  std::optional<std::int32_t> partition;
  std::optional<std::int64_t> from_offset, to_offset;  // inclusive
  std::optional<std::int64_t> since_ms, until_ms;      // [since, until)
  int idle_ms = 3000;
};

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Throws ConfigError listing every bad argument.
Selection parse_args(int argc, char** argv) {
  Selection sel;
  std::vector<std::string> problems;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) {
        problems.push_back(std::string(a) + " needs a value");
        return std::nullopt;
      }
      return std::string_view(argv[++i]);
    };
    auto number = [&](std::optional<std::int64_t>& out) {
      if (auto v = value()) {
        if (auto n = parse_int(*v); n && *n >= 0)
          out = *n;
        else
          problems.push_back(std::string(a) + ": not a non-negative integer: " + std::string(*v));
      }
    };
    auto time = [&](std::optional<std::int64_t>& out) {
      if (auto v = value()) {
        if (auto t = parse_rfc3339(*v))
          out = unix_millis(*t);
        else
          problems.push_back(std::string(a) + ": not an RFC 3339 time: " + std::string(*v));
      }
    };
    if (a == "--dry-run") {
      sel.dry_run = true;
    } else if (a == "--from-offset") {
      number(sel.from_offset);
    } else if (a == "--to-offset") {
      number(sel.to_offset);
    } else if (a == "--since") {
      time(sel.since_ms);
    } else if (a == "--until") {
      time(sel.until_ms);
    } else if (a == "--partition") {
      std::optional<std::int64_t> p;
      number(p);
      if (p) sel.partition = static_cast<std::int32_t>(*p);
    } else if (a == "--idle-ms") {
      std::optional<std::int64_t> v;
      number(v);
      if (v) sel.idle_ms = static_cast<int>(std::min<std::int64_t>(*v, 600000));
    } else {
      problems.push_back("unknown argument: " + std::string(a));
    }
  }
  const bool offsets = sel.from_offset || sel.to_offset;
  const bool times = sel.since_ms || sel.until_ms;
  if (offsets && times) problems.push_back("choose an offset range or a time range, not both");
  if (sel.from_offset && sel.to_offset && *sel.from_offset > *sel.to_offset)
    problems.push_back("--from-offset is after --to-offset");
  if (sel.since_ms && sel.until_ms && *sel.since_ms >= *sel.until_ms)
    problems.push_back("--since is not before --until");
  if (!problems.empty()) throw ConfigError(problems);
  return sel;
}

enum class Verdict { kBefore, kSelected, kAfter, kForeign };

Verdict judge(const Selection& sel, const events::Message& m, const std::string& relay_group) {
  if (sel.partition && m.partition != *sel.partition) return Verdict::kForeign;
  const std::string* group = m.header(events::dlq_header::kConsumerGroup);
  if (group == nullptr || *group != relay_group) return Verdict::kForeign;
  if (sel.from_offset && m.offset < *sel.from_offset) return Verdict::kBefore;
  if (sel.to_offset && m.offset > *sel.to_offset) return Verdict::kAfter;
  if (sel.since_ms && m.timestamp_ms < *sel.since_ms) return Verdict::kBefore;
  if (sel.until_ms && m.timestamp_ms >= *sel.until_ms) return Verdict::kAfter;
  return Verdict::kSelected;
}

std::string header_or(const events::Message& m, std::string_view name, std::string fallback) {
  const std::string* v = m.header(name);
  return v ? *v : std::move(fallback);
}

void print_line(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string describe(const events::Message& m, bool dry_run, const std::string& to_topic) {
  std::string out = "{\"action\":\"";
  out += dry_run ? "would-replay" : "replayed";
  out += "\",\"partition\":" + std::to_string(m.partition) +
         ",\"offset\":" + std::to_string(m.offset) + ",\"timestamp\":\"" +
         (m.timestamp_ms >= 0 ? to_rfc3339(SystemTime(milliseconds(m.timestamp_ms))) : "") +
         "\",\"key\":\"";
  log::append_json_escaped(out, m.key);
  out += "\",\"toTopic\":\"";
  log::append_json_escaped(out, to_topic);
  out += "\",\"originalOffset\":\"";
  log::append_json_escaped(out, header_or(m, events::dlq_header::kOriginalPartition, "") + "@" +
                                    header_or(m, events::dlq_header::kOriginalOffset, ""));
  out += "\",\"httpStatus\":\"";
  log::append_json_escaped(out, header_or(m, "dlq-http-status", ""));
  out += "\",\"attempts\":\"";
  log::append_json_escaped(out, header_or(m, events::dlq_header::kAttempts, ""));
  out += "\",\"error\":\"";
  log::append_json_escaped(out, header_or(m, events::dlq_header::kError, ""));
  out += "\"}";
  return out;
}

int replay(const Selection& sel, EnvReader& env) {
  const std::string bootstrap = env.required("KAFKA_BOOTSTRAP_SERVERS");
  const std::string relay_group = env.str("KAFKA_CONSUMER_GROUP", "dataplatform-relay");
  const std::string replay_group = env.str("REPLAY_GROUP", "dataplatform-relay-replay");
  const std::string dlq_topic = env.str("RELAY_DLQ_TOPIC", "reservation.confirmed.dlq");
  env.finish();

  events::ConsumerOptions copts;
  copts.bootstrap_servers = bootstrap;
  copts.group_id = replay_group;
  copts.client_id = replay_group;
  copts.topics = {dlq_topic};
  copts.auto_offset_reset = "earliest";
  events::Consumer consumer(copts);
  std::optional<events::Producer> producer;
  if (!sel.dry_run) {
    events::ProducerOptions popts;
    popts.bootstrap_servers = bootstrap;
    popts.client_id = replay_group;
    producer.emplace(popts);
  }

  std::set<TopicPartition> stopped;
  std::uint64_t moved = 0, selected = 0, passed = 0;
  auto last_activity = std::chrono::steady_clock::now();
  bool assigned = false;
  const auto deadline_idle = milliseconds(sel.idle_ms);
  const auto join_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    std::optional<events::Message> m = consumer.poll(milliseconds(200));
    const auto now = std::chrono::steady_clock::now();
    if (!m) {
      if (!assigned && !consumer.assignment().empty()) {
        assigned = true;
        last_activity = now;
      }
      if (assigned && now - last_activity >= deadline_idle) break;
      if (!assigned && now > join_deadline)
        throw KafkaError("no partitions assigned within 60 s", true);
      continue;
    }
    assigned = true;
    last_activity = now;
    TopicPartition tp{m->topic, m->partition};
    if (stopped.count(tp) > 0) continue;
    switch (judge(sel, *m, relay_group)) {
      case Verdict::kAfter:
        stopped.insert(tp);
        consumer.pause(tp.topic, tp.partition);
        continue;
      case Verdict::kBefore:
      case Verdict::kForeign:
        ++passed;
        if (!sel.dry_run) consumer.store(*m);
        continue;
      case Verdict::kSelected:
        break;
    }
    ++selected;
    const std::string to_topic =
        header_or(*m, events::dlq_header::kOriginalTopic, "reservation.confirmed");
    if (sel.dry_run) {
      print_line(describe(*m, true, to_topic));
      continue;
    }
    events::Record rec;
    rec.topic = to_topic;
    rec.key = m->key;
    rec.value = m->value;
    for (const auto& h : m->headers) {
      if (h.key.rfind("dlq-", 0) != 0) rec.headers.push_back(h);
    }
    events::DeliveryReport rep = producer->produce(std::move(rec)).get();
    if (!rep.ok) throw KafkaError("replay produce failed: " + rep.error, rep.retryable);
    consumer.store(*m);
    consumer.commit();
    ++moved;
    print_line(describe(*m, false, to_topic));
  }
  if (!sel.dry_run) consumer.commit();
  consumer.close();
  print_line("{\"summary\":{\"dryRun\":" + std::string(sel.dry_run ? "true" : "false") +
             ",\"moved\":" + std::to_string(moved) + ",\"selected\":" + std::to_string(selected) +
             ",\"passed\":" + std::to_string(passed) + "}}");
  return 0;
}

}  // namespace

int run_replay(int argc, char** argv) {
  EnvReader env;
  log::init("dataplatform-relay-replay",
            log::parse_level(env.str("LOG_LEVEL", "info"), log::Level::kInfo));
  Selection sel = parse_args(argc, argv);
  return replay(sel, env);
}

}  // namespace ticketing::relay
