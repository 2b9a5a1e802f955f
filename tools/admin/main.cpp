// ticketing-admin: topic creation and cluster checks for scripts/stack.sh.
//
//   ticketing-admin create-topics --bootstrap B --manifest F [--timeout-s N]
//   ticketing-admin describe --bootstrap B [--manifest F] [--all]
//   ticketing-admin wait-brokers --bootstrap B --count N --timeout-s N
//   ticketing-admin delete-topics --bootstrap B TOPIC...
//
// Exit codes: 0 ok, 1 check or creation failed, 2 usage error, 3 cluster
// unreachable or timed out.

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
    "  ticketing-admin describe --bootstrap HOST:PORT[,..] [--manifest FILE] [--all]\n"
    "  ticketing-admin wait-brokers --bootstrap HOST:PORT[,..] --count N --timeout-s N\n"
    "  ticketing-admin delete-topics --bootstrap HOST:PORT[,..] TOPIC...\n"
    "exit codes: 0 ok, 1 check/creation failed, 2 usage, 3 cluster unreachable\n";

Args parse_args(int argc, char** argv) {
  if (argc < 2) throw UsageError("missing command");
  Args a;
  a.command = argv[1];
  const std::vector<std::string> flag_names = {"all"};
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

}  // namespace

int main(int argc, char** argv) {
  const char* level = std::getenv("LOG_LEVEL");
  ticketing::log::init(
      "ticketing-admin",
      ticketing::log::parse_level(level != nullptr ? level : "", ticketing::log::Level::kWarn));
  try {
    const Args a = parse_args(argc, argv);
    if (a.command == "create-topics") return cmd_create_topics(a);
    if (a.command == "describe") return cmd_describe(a);
    if (a.command == "wait-brokers") return cmd_wait_brokers(a);
    if (a.command == "delete-topics") return cmd_delete_topics(a);
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
