// The ACL table (deploy/kafka-acls.tsv): parsing it and creating its
// bindings on the cluster.
#include <array>
#include <cctype>
#include <stdexcept>

#include "admin_request.hpp"
#include "rdkafka_handles.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/namespace.hpp"

namespace ticketing::events {

using namespace detail;

namespace {

struct AclOperationName {
  std::string_view name;
  rd_kafka_AclOperation_t op;
};
constexpr std::array<AclOperationName, 10> kAclOperations{{
    {"read", RD_KAFKA_ACL_OPERATION_READ},
    {"write", RD_KAFKA_ACL_OPERATION_WRITE},
    {"describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
    {"create", RD_KAFKA_ACL_OPERATION_CREATE},
    {"delete", RD_KAFKA_ACL_OPERATION_DELETE},
    {"alter", RD_KAFKA_ACL_OPERATION_ALTER},
    {"describeconfigs", RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS},
    {"alterconfigs", RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS},
    {"idempotentwrite", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE},
    {"all", RD_KAFKA_ACL_OPERATION_ALL},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<rd_kafka_AclOperation_t> acl_operation(std::string_view name) {
  const std::string key = lower(name);
  for (const auto& o : kAclOperations) {
    if (o.name == key) return o.op;
  }
  return std::nullopt;
}

std::vector<std::string> split_words(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep || (sep == ' ' && c == '\t')) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// A Kafka principal name or group name as the table may write it: no spaces
// (split already), no control characters, not empty, bounded.
bool valid_acl_name(std::string_view s) {
  return !s.empty() && s.size() <= 255 && std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

}  // namespace

std::vector<AclRule> parse_acl_table(std::string_view text) {
  std::vector<AclRule> rules;
  std::vector<std::string> errors;
  int line_no = 0;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::vector<std::string> words = split_words(line, ' ');
    if (words.empty()) continue;
    auto bad = [&](const std::string& why) {
      errors.push_back("line " + std::to_string(line_no) + ": " + why);
    };
    if (words.size() < 5) {
      bad("expected <principal> <operations> <topic|group> <literal|prefixed> <name>...");
      continue;
    }
    AclRule rule;
    rule.line = line_no;
    rule.principal = words[0];
    rule.operations = split_words(words[1], ',');
    rule.resource_type = lower(words[2]);
    rule.pattern_type = lower(words[3]);
    rule.names.assign(words.begin() + 4, words.end());
    const std::size_t before = errors.size();
    if (!valid_acl_name(rule.principal)) bad("bad principal '" + rule.principal + "'");
    if (rule.operations.empty()) bad("no operation");
    for (const auto& op : rule.operations) {
      if (!acl_operation(op)) bad("unknown operation '" + op + "'");
    }
    if (rule.resource_type != "topic" && rule.resource_type != "group") {
      bad("resource type must be topic or group, not '" + words[2] + "'");
    }
    if (rule.pattern_type != "literal" && rule.pattern_type != "prefixed") {
      bad("pattern type must be literal or prefixed, not '" + words[3] + "'");
    }
    for (const auto& name : rule.names) {
      const bool ok = rule.resource_type == "topic" ? valid_topic_name(name) : valid_acl_name(name);
      if (!ok) bad("bad " + rule.resource_type + " name '" + name + "'");
    }
    if (errors.size() == before) rules.push_back(std::move(rule));
  }
  if (!errors.empty()) {
    std::string msg = "bad ACL table:";
    for (const auto& e : errors) msg += "\n  " + e;
    throw std::invalid_argument(msg);
  }
  return rules;
}

std::vector<AclRule> load_acl_table(const std::string& path) {
  return load_file(path, "ACL table", parse_acl_table);
}

std::size_t create_acls(const std::string& bootstrap, const std::vector<AclRule>& rules,
                        std::chrono::milliseconds timeout,
                        const std::optional<KafkaSecurity>& security) {
  std::vector<AclBindingPtr> owned;
  std::vector<std::string> labels;  // for errors, same order as owned
  std::array<char, 256> errstr{};
  for (const auto& rule : rules) {
    const std::string principal = "User:" + rule.principal;
    const auto restype =
        rule.resource_type == "group" ? RD_KAFKA_RESOURCE_GROUP : RD_KAFKA_RESOURCE_TOPIC;
    const auto pattern = rule.pattern_type == "prefixed" ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED
                                                         : RD_KAFKA_RESOURCE_PATTERN_LITERAL;
    for (const auto& op_name : rule.operations) {
      const auto op = acl_operation(op_name);
      if (!op) throw std::invalid_argument("unknown ACL operation '" + op_name + "'");
      for (const auto& local : rule.names) {
        // Topic and group names in this environment (TOPIC_PREFIX).
        const std::string name = kafka_topic(local);
        AclBindingPtr binding(rd_kafka_AclBinding_new(
            restype, name.c_str(), pattern, principal.c_str(), "*", *op,
            RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr.data(), errstr.size()));
        if (!binding) {
          throw std::invalid_argument("line " + std::to_string(rule.line) + ": " + errstr.data());
        }
        owned.push_back(std::move(binding));
        labels.push_back(principal + " " + op_name + " " + rule.resource_type + " " + name);
      }
    }
  }
  if (owned.empty()) return 0;
  std::vector<rd_kafka_AclBinding_t*> raw;
  raw.reserve(owned.size());
  for (auto& b : owned) raw.push_back(b.get());

  KafkaPtr rk = admin_client(bootstrap, security);
  AdminOptionsPtr opts = admin_options(rk.get(), RD_KAFKA_ADMIN_OP_CREATEACLS, timeout, false);
  QueuePtr q(rd_kafka_queue_new(rk.get()));
  rd_kafka_CreateAcls(rk.get(), raw.data(), raw.size(), opts.get(), q.get());
  EventPtr ev = wait_result(q.get(), timeout, "CreateAcls");
  const rd_kafka_CreateAcls_result_t* res = rd_kafka_event_CreateAcls_result(ev.get());
  if (res == nullptr) throw KafkaError("CreateAcls: unexpected result event", false);
  std::size_t cnt = 0;
  const rd_kafka_acl_result_t** results = rd_kafka_CreateAcls_result_acls(res, &cnt);
  // The broker's message for a refused binding can run to a kilobyte (it
  // describes the whole request): the first one, cut, and a count.
  std::string first;
  std::size_t refused = 0;
  bool retryable = true;
  for (std::size_t i = 0; i < cnt; ++i) {
    const rd_kafka_error_t* err = rd_kafka_acl_result_error(results[i]);
    if (err == nullptr) continue;
    retryable = retryable && is_retryable(err);
    if (refused++ == 0) {
      first = (i < labels.size() ? labels[i] : std::to_string(i)) + ": " +
              rd_kafka_err2name(rd_kafka_error_code(err)) + ": " +
              std::string(rd_kafka_error_string(err)).substr(0, 160);
    }
  }
  if (refused > 0) {
    throw KafkaError("CreateAcls refused " + std::to_string(refused) + " of " +
                         std::to_string(cnt) + " bindings; first: " + first,
                     retryable);
  }
  if (cnt != owned.size()) {
    throw KafkaError("CreateAcls answered " + std::to_string(cnt) + " of " +
                         std::to_string(owned.size()) + " bindings",
                     true);
  }
  return owned.size();
}

}  // namespace ticketing::events
