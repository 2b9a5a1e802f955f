// ticketing-admin: topic creation and cluster checks for scripts/stack.sh, and
// dead-letter inspection and replay for operators.
//
//   ticketing-admin create-topics --bootstrap B --manifest F [--timeout-s N]
//   ticketing-admin create-acls --bootstrap B --acls F [--timeout-s N]
//   ticketing-admin describe --bootstrap B [--manifest F] [--all]
//   ticketing-admin wait-brokers --bootstrap B --count N --timeout-s N
//   ticketing-admin delete-topics --bootstrap B TOPIC...
//   ticketing-admin dlq list --bootstrap B [--manifest F] [--max-records N]
//   ticketing-admin dlq show DLQ --bootstrap B [selection] [--limit N]
//   ticketing-admin dlq replay DLQ --bootstrap B [selection] [--dry-run] [--rate N] [--group G]
//
// Exit codes: 0 ok, 1 check or creation failed (dlq replay: a record skipped
// or refused), 2 usage error, 3 cluster unreachable or timed out.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/dlq_replay.hpp"

namespace {

namespace ev = ticketing::events;

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr int kUnreachable = 3;

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Args {
  std::string command;
  std::map<std::string, std::string> options;  // --name value
  std::vector<std::string> flags;              // --name (no value)
  std::vector<std::string> positional;

  [[nodiscard]] bool flag(const std::string& name) const {
    for (const auto& f : flags) {
      if (f == name) return true;
    }
    return false;
  }
  [[nodiscard]] std::string get(const std::string& name, const std::string& fallback = {}) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
  [[nodiscard]] std::string required(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end() || it->second.empty()) throw UsageError("missing --" + name);
    return it->second;
  }
  [[nodiscard]] int integer(const std::string& name, int fallback) const {
    auto it = options.find(name);
    if (it == options.end()) return fallback;
    try {
      std::size_t used = 0;
      int v = std::stoi(it->second, &used);
      if (used != it->second.size() || v < 0) throw std::invalid_argument("bad");
      return v;
    } catch (const std::exception&) {
      throw UsageError("--" + name + " needs a non-negative integer, got '" + it->second + "'");
    }
  }
};

const char* kUsageText =
    "usage:\n"
    "  ticketing-admin create-topics --bootstrap HOST:PORT[,..] --manifest FILE [--timeout-s N]\n"
    "  ticketing-admin create-acls --bootstrap HOST:PORT[,..] --acls FILE [--timeout-s N]\n"
    "  ticketing-admin describe --bootstrap HOST:PORT[,..] [--manifest FILE] [--all]\n"
    "  ticketing-admin wait-brokers --bootstrap HOST:PORT[,..] --count N --timeout-s N\n"
    "  ticketing-admin delete-topics --bootstrap HOST:PORT[,..] TOPIC...\n"
    "  ticketing-admin dlq list --bootstrap HOST:PORT[,..] [--manifest FILE] [--max-records N]\n"
    "      [--timeout-s N]\n"
    "  ticketing-admin dlq show DLQ_TOPIC --bootstrap HOST:PORT[,..] [SELECTION] [--limit N]\n"
    "      [--timeout-s N]\n"
    "  ticketing-admin dlq replay DLQ_TOPIC --bootstrap HOST:PORT[,..] [SELECTION] [--dry-run]\n"
    "      [--rate N] [--group G] [--timeout-s N]\n"
    "  SELECTION: [--partition P] [--from-offset A --to-offset B | --since RFC3339 --until "
    "RFC3339]\n"
    "      [--key K]   (offsets inclusive, times [since, until) by record timestamp)\n"
    "  create-acls: every ALLOW rule of FILE (deploy/kafka-acls.tsv); existing ones are kept,\n"
    "      others are not removed. Needs a super user (KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*).\n"
    "  dlq list: every *.dlq topic of the manifest (default deploy/topics.manifest): records,\n"
    "      counts by dlq-original-topic and by error, from the first --max-records (10000) of "
    "each.\n"
    "  dlq show: the selected records, one JSON object a line, at most --limit (100; 0 = all).\n"
    "  dlq replay: each selected record to its dlq-original-topic (same key and value, headers\n"
    "      without dlq-*, plus dlq-replayed-from), --rate records/s (100), progress committed\n"
    "      in --group after each acknowledged batch, so a second run of the same selection\n"
    "      replays nothing again (default group: ticketing-admin.dlq-replay.<DLQ_TOPIC>, plus\n"
    "      .sel-<hash> with a selection); ends at the end offsets seen at its start.\n"
    "      --timeout-s: give up when nothing arrives for N s (15).\n"
    "exit codes: 0 ok, 1 check/creation failed or a record not replayed, 2 usage,\n"
    "  3 cluster unreachable\n";

Args parse_args(int argc, char** argv) {
  if (argc < 2) throw UsageError("missing command");
  Args a;
  a.command = argv[1];
  const std::vector<std::string> flag_names = {"all", "dry-run"};
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        a.options[name.substr(0, eq)] = name.substr(eq + 1);
        continue;
      }
      bool is_flag = false;
      for (const auto& f : flag_names) is_flag = is_flag || f == name;
      if (is_flag) {
        a.flags.push_back(name);
        continue;
      }
      if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
      a.options[name] = argv[++i];
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

std::string join(const std::vector<std::int32_t>& v) {
  std::string out;
  for (auto x : v) {
    if (!out.empty()) out += ',';
    out += std::to_string(x);
  }
  return out;
}

int cmd_create_topics(const Args& a) {
  const std::string bootstrap = a.required("bootstrap");
  const ev::Manifest manifest = ev::load_manifest(a.required("manifest"));
  const int timeout_s = a.integer("timeout-s", 60);
  const auto results = ev::create_topics(bootstrap, manifest, std::chrono::seconds(timeout_s));
  int created = 0;
  int existed = 0;
  int bad = 0;
  for (const auto& r : results) {
    std::printf("%-40s %-16s %s\n", r.topic.c_str(), ev::to_string(r.status), r.detail.c_str());
    switch (r.status) {
      case ev::TopicStatus::kCreated:
        ++created;
        break;
      case ev::TopicStatus::kExists:
        ++existed;
        break;
      case ev::TopicStatus::kExistsMismatch:
      case ev::TopicStatus::kFailed:
        ++bad;
        break;
    }
  }
  std::printf("%d created, %d already existed, %d failed or mismatched\n", created, existed, bad);
  return bad == 0 ? kOk : kFailed;
}

int cmd_create_acls(const Args& a) {
  const std::string bootstrap = a.required("bootstrap");
  const std::vector<ev::AclRule> rules = ev::load_acl_table(a.required("acls"));
  const int timeout_s = a.integer("timeout-s", 60);
  try {
    const std::size_t n = ev::create_acls(bootstrap, rules, std::chrono::seconds(timeout_s));
    std::printf("%zu ACL bindings in place (%zu rules)\n", n, rules.size());
    return kOk;
  } catch (const ticketing::KafkaError& e) {
    if (e.retryable()) throw;  // unreachable: exit 3
    std::fprintf(stderr, "ticketing-admin: %s\n", e.what());
    return kFailed;
  }
}

int cmd_describe(const Args& a) {
  const std::string bootstrap = a.required("bootstrap");
  std::optional<ev::Manifest> manifest;
  if (!a.get("manifest").empty()) manifest = ev::load_manifest(a.get("manifest"));
  std::vector<std::string> names;
  if (manifest && !a.flag("all")) {
    for (const auto& t : manifest->topics) names.push_back(t.name);
  }
  const ev::ClusterInfo info = ev::describe(bootstrap, names);
  std::printf("brokers: %zu (controller %d)\n", info.brokers.size(), info.controller_id);
  for (const auto& b : info.brokers) std::printf("  %d  %s:%d\n", b.id, b.host.c_str(), b.port);
  std::printf("%-40s %5s %3s %7s  %s\n", "topic", "parts", "rf", "min.isr",
              "partitions (leader/isr)");
  for (const auto& t : info.topics) {
    std::string parts;
    for (const auto& p : t.partitions) {
      if (!parts.empty()) parts += "  ";
      parts += std::to_string(p.id) + ":" + std::to_string(p.leader) + "/" + join(p.isr);
    }
    if (!t.error.empty()) parts += (parts.empty() ? "" : "  ") + std::string("! ") + t.error;
    const std::string min_isr =
        t.min_insync_replicas ? std::to_string(*t.min_insync_replicas) : std::string("?");
    std::printf("%-40s %5zu %3d %7s  %s\n", t.name.c_str(), t.partitions.size(),
                t.replication_factor, min_isr.c_str(), parts.c_str());
  }
  if (!manifest) return kOk;
  const ev::ManifestCheck check = ev::check_manifest(info, *manifest);
  for (const auto& w : check.warnings) std::printf("warning: %s\n", w.c_str());
  for (const auto& e : check.errors) std::printf("error: %s\n", e.c_str());
  std::printf("manifest check: %s (%zu topics, %zu errors, %zu warnings)\n",
              check.errors.empty() ? "ok" : "FAILED", manifest->topics.size(), check.errors.size(),
              check.warnings.size());
  return check.errors.empty() ? kOk : kFailed;
}

int cmd_wait_brokers(const Args& a) {
  const std::string bootstrap = a.required("bootstrap");
  const int count = a.integer("count", 3);
  const int timeout_s = a.integer("timeout-s", 60);
  const int seen = ev::wait_for_brokers(bootstrap, count, std::chrono::seconds(timeout_s));
  if (seen >= count) {
    std::printf("%d brokers registered\n", seen);
    return kOk;
  }
  std::fprintf(stderr, "ticketing-admin: only %d of %d brokers registered within %d s\n", seen,
               count, timeout_s);
  return kUnreachable;
}

int cmd_delete_topics(const Args& a) {
  const std::string bootstrap = a.required("bootstrap");
  if (a.positional.empty()) throw UsageError("delete-topics needs topic names");
  int bad = 0;
  for (const auto& r : ev::delete_topics(bootstrap, a.positional)) {
    const bool ok = r.status != ev::TopicStatus::kFailed;
    std::printf("%-40s %s\n", r.topic.c_str(),
                ok ? r.detail.c_str() : ("failed: " + r.detail).c_str());
    bad += ok ? 0 : 1;
  }
  return bad == 0 ? kOk : kFailed;
}

// --- dlq ---------------------------------------------------------------------

struct DlqArgs {
  std::string bootstrap;
  std::string topic;  // show, replay
  std::string manifest = "deploy/topics.manifest";
  ev::DlqSelection selection;
  std::int64_t max_records = 10000;
  std::int64_t limit = 100;
  std::int64_t rate = 100;
  std::string group;
  bool dry_run = false;
  std::chrono::milliseconds idle_timeout{15000};
};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n  ") + l;
  return out;
}

// Every problem of the command line at once, as one UsageError.
DlqArgs parse_dlq_args(const Args& a) {
  std::vector<std::string> problems;
  if (a.positional.empty()) throw UsageError("dlq needs a subcommand: list, show or replay");
  const std::string sub = a.positional[0];
  if (sub != "list" && sub != "show" && sub != "replay") {
    throw UsageError("unknown dlq subcommand '" + sub + "' (list, show or replay)");
  }
  DlqArgs d;
  const std::size_t want_positional = sub == "list" ? 1 : 2;
  if (a.positional.size() < want_positional)
    problems.push_back("dlq " + sub + " needs a DLQ topic");
  for (std::size_t i = want_positional; i < a.positional.size(); ++i) {
    problems.push_back("unexpected argument '" + a.positional[i] + "'");
  }
  if (sub != "list" && a.positional.size() >= 2) d.topic = a.positional[1];

  auto number = [&](const std::string& name, const std::string& value, std::int64_t min,
                    std::int64_t& out) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size() || v < min) {
      problems.push_back("--" + name + " needs an integer >= " + std::to_string(min) + ", got '" +
                         value + "'");
      return;
    }
    out = v;
  };
  for (const auto& [name, value] : a.options) {
    if (name == "bootstrap") {
      d.bootstrap = value;
    } else if (name == "timeout-s") {
      std::int64_t s = 15;
      number(name, value, 1, s);
      d.idle_timeout = std::chrono::seconds(s);
    } else if (sub == "list" && name == "manifest") {
      d.manifest = value;
    } else if (sub == "list" && name == "max-records") {
      number(name, value, 1, d.max_records);
    } else if (sub == "show" && name == "limit") {
      number(name, value, 0, d.limit);
    } else if (sub == "replay" && name == "rate") {
      number(name, value, 1, d.rate);
    } else if (sub == "replay" && name == "group") {
      if (value.empty()) problems.push_back("--group needs a name");
      d.group = value;
    } else if (sub == "list" || !ev::apply_selection_option(name, value, d.selection, problems)) {
      problems.push_back("dlq " + sub + " has no option --" + name);
    }
  }
  for (const auto& f : a.flags) {
    if (sub == "replay" && f == "dry-run") {
      d.dry_run = true;
    } else {
      problems.push_back("dlq " + sub + " has no flag --" + f);
    }
  }
  if (d.bootstrap.empty()) problems.push_back("missing --bootstrap");
  ev::check_selection(d.selection, problems);
  if (!problems.empty()) throw UsageError(join_lines(problems));
  if (d.group.empty()) {
    // One group per selection: a narrower replay never hides the records it
    // passed over from a later, different one (those may come twice; consumers dedupe).
    const std::string id = ev::selection_id(d.selection);
    d.group = "ticketing-admin.dlq-replay." + d.topic + (id.empty() ? "" : ".sel-" + id);
  }
  return d;
}

void print_counts(const char* title, const std::map<std::string, std::uint64_t>& counts) {
  if (counts.empty()) return;
  std::printf("  %s:\n", title);
  std::vector<std::pair<std::string, std::uint64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  for (const auto& [name, n] : sorted) {
    std::printf("    %8llu  %s\n", static_cast<unsigned long long>(n), name.c_str());
  }
}

int cmd_dlq_list(const DlqArgs& d) {
  const ev::Manifest manifest = ev::load_manifest(d.manifest);
  const std::string kSuffix = ".dlq";
  int missing = 0;
  int dlqs = 0;
  for (const auto& t : manifest.topics) {
    if (t.name.size() <= kSuffix.size() || !t.name.ends_with(kSuffix)) continue;
    ++dlqs;
    ev::DlqReadOptions ro;
    ro.bootstrap = d.bootstrap;
    ro.topic = t.name;
    ro.client_id = "ticketing-admin";
    ro.idle_timeout = d.idle_timeout;
    std::optional<ev::DlqReader> reader;
    try {
      reader.emplace(ro);
    } catch (const std::invalid_argument& e) {
      std::printf("%s: not in the cluster (%s)\n", t.name.c_str(), e.what());
      ++missing;
      continue;
    }
    std::int64_t records = 0;
    for (const auto& r : reader->ranges()) records += r.high - r.low;
    std::map<std::string, std::uint64_t> by_topic;
    std::map<std::string, std::uint64_t> by_error;
    std::int64_t read = 0;
    while (read < d.max_records) {
      std::optional<ev::Message> m = reader->next();
      if (!m) break;
      ++read;
      const std::string* original = m->header(ev::dlq_header::kOriginalTopic);
      ++by_topic[original != nullptr ? *original : "(no dlq-original-topic)"];
      const std::string* error = m->header(ev::dlq_header::kError);
      ++by_error[ev::error_class(error != nullptr ? *error : "")];
    }
    std::printf("%s: %lld records", t.name.c_str(), static_cast<long long>(records));
    if (read < records)
      std::printf(" (counts below: the first %lld read)", static_cast<long long>(read));
    std::printf("\n");
    print_counts("by original topic", by_topic);
    print_counts("by error", by_error);
  }
  if (dlqs == 0) std::printf("no *.dlq topic in %s\n", d.manifest.c_str());
  return missing == 0 ? kOk : kFailed;
}

int cmd_dlq_show(const DlqArgs& d) {
  ev::DlqReadOptions ro;
  ro.bootstrap = d.bootstrap;
  ro.topic = d.topic;
  ro.selection = d.selection;
  ro.client_id = "ticketing-admin";
  ro.idle_timeout = d.idle_timeout;
  ev::DlqReader reader(ro);
  std::int64_t shown = 0;
  std::int64_t read = 0;
  while (d.limit == 0 || shown < d.limit) {
    std::optional<ev::Message> m = reader.next();
    if (!m) break;
    ++read;
    if (!d.selection.matches(*m)) continue;
    ++shown;
    std::printf("%s\n", ev::dead_letter_json(*m).c_str());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "ticketing-admin: %lld shown, %lld read\n", static_cast<long long>(shown),
               static_cast<long long>(read));
  return kOk;
}

int cmd_dlq_replay(const DlqArgs& d) {
  ev::ReplayOptions o;
  o.bootstrap = d.bootstrap;
  o.dlq_topic = d.topic;
  o.selection = d.selection;
  o.group = d.group;
  o.client_id = "ticketing-admin";
  o.dry_run = d.dry_run;
  o.rate_per_s = static_cast<double>(d.rate);
  o.idle_timeout = d.idle_timeout;
  o.on_record = [](const ev::ReplayItem& item) {
    std::printf("%s\n", ev::replay_item_json(item).c_str());
    std::fflush(stdout);
  };
  const ev::ReplaySummary s = ev::replay_dead_letters(o);
  std::printf("%s\n", ev::replay_summary_json(s, d.group, d.dry_run).c_str());
  return s.skipped == 0 && s.failed == 0 ? kOk : kFailed;
}

int cmd_dlq(const Args& a) {
  const DlqArgs d = parse_dlq_args(a);
  const std::string& sub = a.positional[0];
  if (sub == "list") return cmd_dlq_list(d);
  if (sub == "show") return cmd_dlq_show(d);
  return cmd_dlq_replay(d);
}

}  // namespace

int main(int argc, char** argv) {
  const char* level = std::getenv("LOG_LEVEL");
  ticketing::log::init(
      "ticketing-admin",
      ticketing::log::parse_level(level != nullptr ? level : "", ticketing::log::Level::kWarn));
  try {
    const Args a = parse_args(argc, argv);
    if (a.command == "create-topics") return cmd_create_topics(a);
    if (a.command == "create-acls") return cmd_create_acls(a);
    if (a.command == "describe") return cmd_describe(a);
    if (a.command == "wait-brokers") return cmd_wait_brokers(a);
    if (a.command == "delete-topics") return cmd_delete_topics(a);
    if (a.command == "dlq") return cmd_dlq(a);
    if (a.command == "help" || a.command == "--help" || a.command == "-h") {
      std::fputs(kUsageText, stdout);
      return kOk;
    }
    throw UsageError("unknown command '" + a.command + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "ticketing-admin: %s\n%s", e.what(), kUsageText);
    return kUsage;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "ticketing-admin: %s\n", e.what());
    return kUsage;
  } catch (const ticketing::KafkaError& e) {
    std::fprintf(stderr, "ticketing-admin: %s\n", e.what());
    return kUnreachable;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ticketing-admin: %s\n", e.what());
    return kFailed;
  }
}
