#include "events/replay.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/common/config.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/dlq_replay.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::relay {

namespace {

using std::chrono::milliseconds;

struct Selection {
  bool dry_run = false;
  events::DlqSelection dlq;
  int idle_ms = 3000;
};

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Throws ConfigError listing every bad argument. The selection options are
// ticketing-admin dlq's (events::apply_selection_option).
Selection parse_args(int argc, char** argv) {
  Selection sel;
  std::vector<std::string> problems;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--dry-run") {
      sel.dry_run = true;
      continue;
    }
    if (!a.starts_with("--")) {
      problems.push_back("unknown argument: " + std::string(a));
      continue;
    }
    if (i + 1 >= argc) {
      problems.push_back(std::string(a) + " needs a value");
      continue;
    }
    const std::string_view value = argv[++i];
    if (a == "--idle-ms") {
      if (auto v = parse_int(value); v && *v >= 0)
        sel.idle_ms = static_cast<int>(std::min<std::int64_t>(*v, 600000));
      else
        problems.push_back("--idle-ms: not a non-negative integer: " + std::string(value));
    } else if (!events::apply_selection_option(a.substr(2), value, sel.dlq, problems)) {
      problems.push_back("unknown argument: " + std::string(a));
    }
  }
  events::check_selection(sel.dlq, problems);
  if (!problems.empty()) throw ConfigError(problems);
  return sel;
}

std::string header_or(const events::Message& m, std::string_view name, std::string fallback) {
  if (const std::string* v = m.header(name)) return *v;
  return fallback;
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
  const std::string dlq_topic =
      env.str("RELAY_DLQ_TOPIC", events::dlq_topic_for(events::topics::kReservationConfirmed));
  env.finish();

  events::ReplayOptions o;
  o.bootstrap = bootstrap;
  o.dlq_topic = dlq_topic;
  o.selection = sel.dlq;
  o.group = replay_group;
  o.client_id = replay_group;
  o.dry_run = sel.dry_run;
  o.rate_per_s = 0;  // the relay's own DLQ: small, and the platform dedupes by key
  o.batch = 1;       // commit after each acknowledged record
  // The read ends at the end offsets seen at its start; --idle-ms only bounds
  // a stalled read (never less than 10 s, so a slow broker is not taken for the end).
  o.idle_timeout = std::max(milliseconds(sel.idle_ms), milliseconds(10000));
  o.filter = [&](const events::Message& m) {
    const std::string* group = m.header(events::dlq_header::kConsumerGroup);
    return group != nullptr && *group == relay_group;
  };
  o.fallback_topic = std::string(events::topics::kReservationConfirmed);
  o.on_record = [](const events::ReplayItem& item) {
    switch (item.outcome) {
      case events::ReplayOutcome::kWouldReplay:
      case events::ReplayOutcome::kReplayed:
        print_line(describe(item.dead_letter, item.outcome == events::ReplayOutcome::kWouldReplay,
                            item.to_topic));
        break;
      case events::ReplayOutcome::kSkipped:
      case events::ReplayOutcome::kFailed:
        print_line(events::replay_item_json(item));
        break;
    }
  };
  const events::ReplaySummary s = events::replay_dead_letters(o);
  print_line(
      "{\"summary\":{\"dryRun\":" + std::string(sel.dry_run ? "true" : "false") +
      ",\"moved\":" + std::to_string(s.replayed) + ",\"selected\":" + std::to_string(s.selected) +
      ",\"passed\":" + std::to_string(s.passed) + ",\"failed\":" + std::to_string(s.failed) + "}}");
  if (s.failed > 0) throw KafkaError(std::to_string(s.failed) + " record(s) not replayed", true);
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
