#include "ticketing/events/admin.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"

namespace ticketing::events {

using namespace detail;

namespace {

using Clock = std::chrono::steady_clock;

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::optional<int> parse_positive(const std::string& s, int max) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > max) return std::nullopt;
  return v;
}

KafkaPtr admin_client(const std::string& bootstrap, const std::optional<KafkaSecurity>& security,
                      ClientLog log_mode = ClientLog::kNormal) {
  ConfPtr conf = new_conf(log_mode);
  set_conf(conf.get(), "bootstrap.servers", bootstrap);
  apply_security(conf.get(), security);
  set_conf(conf.get(), "client.id", "ticketing-admin");
  return new_client(RD_KAFKA_PRODUCER, std::move(conf));
}

MetadataPtr fetch_metadata(rd_kafka_t* rk, bool all_topics, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, all_topics ? 1 : 0, nullptr, &raw, to_timeout_ms(timeout));
  MetadataPtr md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("cluster metadata unavailable: " + err_text(err), is_retryable(err), err);
  }
  return md;
}

AdminOptionsPtr admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                              std::chrono::milliseconds timeout, bool operation_timeout) {
  AdminOptionsPtr opts(rd_kafka_AdminOptions_new(rk, op));
  std::array<char, 256> errstr{};
  if (rd_kafka_AdminOptions_set_request_timeout(opts.get(), to_timeout_ms(timeout), errstr.data(),
                                                errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string("admin options: ") + errstr.data(), false);
  }
  if (operation_timeout &&
      rd_kafka_AdminOptions_set_operation_timeout(opts.get(), to_timeout_ms(timeout), errstr.data(),
                                                  errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string("admin options: ") + errstr.data(), false);
  }
  return opts;
}

// Waits for the admin result event; throws KafkaError on a request-level error.
EventPtr wait_result(rd_kafka_queue_t* q, std::chrono::milliseconds timeout, const char* what) {
  EventPtr ev(rd_kafka_queue_poll(q, to_timeout_ms(timeout + std::chrono::seconds(5))));
  if (!ev) throw KafkaError(std::string(what) + ": no answer from the cluster", true);
  rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string(what) + " failed: " + rd_kafka_event_error_string(ev.get()),
                     is_retryable(err), err);
  }
  return ev;
}

ClusterInfo to_cluster_info(const rd_kafka_metadata_t& md, const std::vector<std::string>& wanted) {
  ClusterInfo info;
  for (int i = 0; i < md.broker_cnt; ++i) {
    info.brokers.push_back({md.brokers[i].id, md.brokers[i].host, md.brokers[i].port});
  }
  std::sort(info.brokers.begin(), info.brokers.end(),
            [](const BrokerInfo& a, const BrokerInfo& b) { return a.id < b.id; });
  std::set<std::string, std::less<>> want(wanted.begin(), wanted.end());
  std::set<std::string, std::less<>> seen;
  for (int i = 0; i < md.topic_cnt; ++i) {
    const auto& t = md.topics[i];
    std::string name = t.topic;
    if (want.empty() ? name.rfind("__", 0) == 0 : want.count(name) == 0) continue;
    seen.insert(name);
    TopicInfo ti;
    ti.name = name;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) ti.error = err_text(t.err);
    int rf = -1;
    for (int p = 0; p < t.partition_cnt; ++p) {
      const auto& pm = t.partitions[p];
      PartitionInfo pi;
      pi.id = pm.id;
      pi.leader = pm.leader;
      pi.replicas.assign(pm.replicas, pm.replicas + pm.replica_cnt);
      pi.isr.assign(pm.isrs, pm.isrs + pm.isr_cnt);
      if (pm.err != RD_KAFKA_RESP_ERR_NO_ERROR) pi.error = err_text(pm.err);
      rf = rf < 0 ? pm.replica_cnt : std::min(rf, pm.replica_cnt);
      ti.partitions.push_back(std::move(pi));
    }
    std::sort(ti.partitions.begin(), ti.partitions.end(),
              [](const PartitionInfo& a, const PartitionInfo& b) { return a.id < b.id; });
    ti.replication_factor = std::max(rf, 0);
    info.topics.push_back(std::move(ti));
  }
  for (const auto& w : want) {
    if (seen.count(w) == 0) {
      TopicInfo ti;
      ti.name = w;
      ti.error = "topic does not exist";
      info.topics.push_back(std::move(ti));
    }
  }
  std::sort(info.topics.begin(), info.topics.end(),
            [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  return info;
}

// Fills min_insync_replicas of every existing topic with DescribeConfigs.
void describe_min_isr(rd_kafka_t* rk, ClusterInfo& info, std::chrono::milliseconds timeout) {
  std::vector<ConfigResourcePtr> owned;
  std::vector<rd_kafka_ConfigResource_t*> raw;
  for (const auto& t : info.topics) {
    if (!t.error.empty() && t.partitions.empty()) continue;
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.name.c_str()));
    raw.push_back(owned.back().get());
  }
  if (raw.empty()) return;
  AdminOptionsPtr opts = admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout, false);
  QueuePtr q(rd_kafka_queue_new(rk));
  rd_kafka_DescribeConfigs(rk, raw.data(), raw.size(), opts.get(), q.get());
  EventPtr ev = wait_result(q.get(), timeout, "DescribeConfigs");
  const rd_kafka_DescribeConfigs_result_t* res = rd_kafka_event_DescribeConfigs_result(ev.get());
  if (res == nullptr) throw KafkaError("DescribeConfigs: unexpected result event", false);
  std::size_t cnt = 0;
  const rd_kafka_ConfigResource_t** resources =
      rd_kafka_DescribeConfigs_result_resources(res, &cnt);
  for (std::size_t i = 0; i < cnt; ++i) {
    const std::string name = rd_kafka_ConfigResource_name(resources[i]);
    auto it = std::find_if(info.topics.begin(), info.topics.end(),
                           [&name](const TopicInfo& t) { return t.name == name; });
    if (it == info.topics.end()) continue;
    if (rd_kafka_ConfigResource_error(resources[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (it->error.empty()) {
        it->error =
            std::string("describe configs: ") + rd_kafka_ConfigResource_error_string(resources[i]);
      }
      continue;
    }
    std::size_t ccnt = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(resources[i], &ccnt);
    for (std::size_t c = 0; c < ccnt; ++c) {
      if (std::string_view(rd_kafka_ConfigEntry_name(entries[c])) != "min.insync.replicas")
        continue;
      const char* v = rd_kafka_ConfigEntry_value(entries[c]);
      if (v != nullptr) {
        if (auto n = parse_positive(v, 1000)) it->min_insync_replicas = *n;
      }
    }
  }
}

std::vector<TopicResult> run_create(rd_kafka_t* rk, const Manifest& manifest,
                                    std::chrono::milliseconds timeout) {
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  std::array<char, 512> errstr{};
  for (const auto& spec : manifest.topics) {
    NewTopicPtr nt(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                         spec.replication_factor, errstr.data(), errstr.size()));
    if (!nt) throw std::invalid_argument("topic " + spec.name + ": " + errstr.data());
    for (const auto& [k, v] : spec.configs) {
      rd_kafka_resp_err_t err = rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::invalid_argument("topic " + spec.name + ": config " + k + ": " + err_text(err));
      }
    }
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
  }
  std::vector<TopicResult> results;
  if (raw.empty()) return results;
  AdminOptionsPtr opts = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, true);
  QueuePtr q(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, raw.data(), raw.size(), opts.get(), q.get());
  EventPtr ev = wait_result(q.get(), timeout, "CreateTopics");
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  if (res == nullptr) throw KafkaError("CreateTopics: unexpected result event", false);
  std::size_t cnt = 0;
  const rd_kafka_topic_result_t** trs = rd_kafka_CreateTopics_result_topics(res, &cnt);
  for (std::size_t i = 0; i < cnt; ++i) {
    TopicResult r;
    r.topic = rd_kafka_topic_result_name(trs[i]);
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(trs[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      r.status = TopicStatus::kCreated;
    } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      r.status = TopicStatus::kExists;
    } else {
      r.status = TopicStatus::kFailed;
      const char* s = rd_kafka_topic_result_error_string(trs[i]);
      r.detail = err_text(err) + (s != nullptr ? std::string(" (") + s + ")" : std::string());
    }
    results.push_back(std::move(r));
  }
  return results;
}

bool all_have_leaders(const ClusterInfo& info, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    const TopicInfo* t = info.find(n);
    if (t == nullptr || t->partitions.empty()) return false;
    for (const auto& p : t->partitions) {
      if (p.leader < 0) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> TopicSpec::config(std::string_view key) const {
  for (const auto& [k, v] : configs) {
    if (k == key) return v;
  }
  return std::nullopt;
}

const TopicSpec* Manifest::find(std::string_view name) const {
  for (const auto& t : topics) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const TopicInfo* ClusterInfo::find(std::string_view name) const {
  for (const auto& t : topics) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const char* to_string(TopicStatus s) {
  switch (s) {
    case TopicStatus::kCreated:
      return "created";
    case TopicStatus::kExists:
      return "exists";
    case TopicStatus::kExistsMismatch:
      return "exists-mismatch";
    case TopicStatus::kFailed:
      return "failed";
  }
  return "failed";
}

Manifest parse_manifest(std::string_view text) {
  Manifest m;
  std::vector<std::string> problems;
  std::set<std::string, std::less<>> names;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::vector<std::string> tok;
    for (std::string t; fields >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    const std::string where = "line " + std::to_string(lineno) + ": ";
    if (tok.size() < 3) {
      problems.push_back(where + "expected <name> <partitions> <replication-factor> [k=v ...]");
      continue;
    }
    TopicSpec spec;
    spec.name = tok[0];
    bool ok = true;
    if (!valid_topic_name(spec.name)) {
      problems.push_back(where + "invalid topic name '" + spec.name + "'");
      ok = false;
    }
    if (auto p = parse_positive(tok[1], 100000)) {
      spec.partitions = *p;
    } else {
      problems.push_back(where + "invalid partition count '" + tok[1] + "'");
      ok = false;
    }
    if (auto rf = parse_positive(tok[2], 32767)) {
      spec.replication_factor = *rf;
    } else {
      problems.push_back(where + "invalid replication factor '" + tok[2] + "'");
      ok = false;
    }
    for (std::size_t i = 3; i < tok.size(); ++i) {
      const auto eq = tok[i].find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == tok[i].size()) {
        problems.push_back(where + "expected <config>=<value>, got '" + tok[i] + "'");
        ok = false;
        continue;
      }
      spec.configs.emplace_back(tok[i].substr(0, eq), tok[i].substr(eq + 1));
    }
    if (ok && !names.insert(spec.name).second) {
      problems.push_back(where + "topic '" + spec.name + "' listed twice");
      ok = false;
    }
    if (ok) m.topics.push_back(std::move(spec));
  }
  if (!problems.empty()) {
    std::string msg = "invalid topic manifest:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw std::invalid_argument(msg);
  }
  return m;
}

namespace {

// Reads `path` and parses it with `parse`; errors name the file.
template <typename Parse>
auto load_file(const std::string& path, const char* what, Parse parse) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(std::string("cannot read ") + what + " " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return parse(buf.str());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace

Manifest load_manifest(const std::string& path) {
  return load_file(path, "topic manifest", parse_manifest);
}

std::vector<TopicResult> create_topics(const std::string& bootstrap, const Manifest& manifest,
                                       std::chrono::milliseconds timeout,
                                       const std::optional<KafkaSecurity>& security) {
  KafkaPtr rk = admin_client(bootstrap, security);
  const auto deadline = Clock::now() + timeout;
  std::vector<TopicResult> results = run_create(rk.get(), manifest, timeout);

  std::vector<std::string> names;
  for (const auto& t : manifest.topics) names.push_back(t.name);
  // Created topics are waited for until every partition has a leader, so
  // that producers and consumers started right after see them; existing ones
  // too before they are checked against the manifest, since a topic created a
  // moment ago may still show partly in the metadata of a lagging broker.
  ClusterInfo info;
  for (;;) {
    info = to_cluster_info(*fetch_metadata(rk.get(), true, std::chrono::seconds(10)), names);
    std::vector<std::string> settled;
    for (const auto& r : results) {
      if (r.status == TopicStatus::kCreated || r.status == TopicStatus::kExists)
        settled.push_back(r.topic);
    }
    if (all_have_leaders(info, settled) || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& r : results) {
    const TopicSpec* spec = manifest.find(r.topic);
    const TopicInfo* t = info.find(r.topic);
    if (spec == nullptr) continue;
    if (r.status == TopicStatus::kExists && t != nullptr) {
      std::string diff;
      if (static_cast<int>(t->partitions.size()) != spec->partitions) {
        diff += "partitions " + std::to_string(t->partitions.size()) + " (manifest " +
                std::to_string(spec->partitions) + ") ";
      }
      if (t->replication_factor != spec->replication_factor) {
        diff += "replication factor " + std::to_string(t->replication_factor) + " (manifest " +
                std::to_string(spec->replication_factor) + ")";
      }
      if (!diff.empty()) {
        r.status = TopicStatus::kExistsMismatch;
        r.detail = diff;
      }
    } else if (r.status == TopicStatus::kCreated && !all_have_leaders(info, {r.topic})) {
      r.detail = "created, but not every partition has a leader yet";
    }
  }
  return results;
}

std::vector<TopicResult> delete_topics(const std::string& bootstrap,
                                       const std::vector<std::string>& topics,
                                       std::chrono::milliseconds timeout,
                                       const std::optional<KafkaSecurity>& security) {
  std::vector<TopicResult> results;
  if (topics.empty()) return results;
  KafkaPtr rk = admin_client(bootstrap, security);
  std::vector<DeleteTopicPtr> owned;
  std::vector<rd_kafka_DeleteTopic_t*> raw;
  for (const auto& t : topics) {
    owned.emplace_back(rd_kafka_DeleteTopic_new(t.c_str()));
    raw.push_back(owned.back().get());
  }
  AdminOptionsPtr opts = admin_options(rk.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, true);
  QueuePtr q(rd_kafka_queue_new(rk.get()));
  rd_kafka_DeleteTopics(rk.get(), raw.data(), raw.size(), opts.get(), q.get());
  EventPtr ev = wait_result(q.get(), timeout, "DeleteTopics");
  const rd_kafka_DeleteTopics_result_t* res = rd_kafka_event_DeleteTopics_result(ev.get());
  if (res == nullptr) throw KafkaError("DeleteTopics: unexpected result event", false);
  std::size_t cnt = 0;
  const rd_kafka_topic_result_t** trs = rd_kafka_DeleteTopics_result_topics(res, &cnt);
  for (std::size_t i = 0; i < cnt; ++i) {
    TopicResult r;
    r.topic = rd_kafka_topic_result_name(trs[i]);
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(trs[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      r.status = TopicStatus::kCreated;  // i.e. done
      r.detail = err == RD_KAFKA_RESP_ERR_NO_ERROR ? "deleted" : "did not exist";
    } else {
      r.status = TopicStatus::kFailed;
      r.detail = err_text(err);
    }
    results.push_back(std::move(r));
  }
  return results;
}

ClusterInfo describe(const std::string& bootstrap, const std::vector<std::string>& topics,
                     std::chrono::milliseconds timeout,
                     const std::optional<KafkaSecurity>& security) {
  KafkaPtr rk = admin_client(bootstrap, security);
  ClusterInfo info = to_cluster_info(*fetch_metadata(rk.get(), true, timeout), topics);
  info.controller_id = rd_kafka_controllerid(rk.get(), to_timeout_ms(timeout));
  describe_min_isr(rk.get(), info, timeout);
  return info;
}

ManifestCheck check_manifest(const ClusterInfo& cluster, const Manifest& manifest) {
  ManifestCheck out;
  for (const auto& spec : manifest.topics) {
    const TopicInfo* t = cluster.find(spec.name);
    if (t == nullptr || t->partitions.empty()) {
      out.errors.push_back(
          spec.name + ": missing" +
          (t != nullptr && !t->error.empty() ? " (" + t->error + ")" : std::string()));
      continue;
    }
    if (static_cast<int>(t->partitions.size()) < spec.partitions) {
      out.errors.push_back(spec.name + ": " + std::to_string(t->partitions.size()) +
                           " partitions, manifest wants " + std::to_string(spec.partitions));
    }
    if (t->replication_factor < 3 || t->replication_factor < spec.replication_factor) {
      out.errors.push_back(
          spec.name + ": replication factor " + std::to_string(t->replication_factor) +
          " (needs >= " + std::to_string(std::max(3, spec.replication_factor)) + ")");
    }
    int want_min_isr = 2;
    if (auto v = spec.config("min.insync.replicas")) {
      if (auto n = parse_positive(*v, 1000)) want_min_isr = *n;
    }
    if (!t->min_insync_replicas) {
      out.errors.push_back(spec.name + ": min.insync.replicas unknown");
    } else if (*t->min_insync_replicas != 2 || *t->min_insync_replicas != want_min_isr) {
      out.errors.push_back(spec.name + ": min.insync.replicas=" +
                           std::to_string(*t->min_insync_replicas) + " (needs 2)");
    }
    for (const auto& p : t->partitions) {
      if (p.leader < 0) {
        out.warnings.push_back(spec.name + "[" + std::to_string(p.id) + "]: no leader");
      } else if (p.isr.size() < p.replicas.size()) {
        out.warnings.push_back(spec.name + "[" + std::to_string(p.id) + "]: ISR " +
                               std::to_string(p.isr.size()) + "/" +
                               std::to_string(p.replicas.size()));
      }
    }
  }
  return out;
}

int wait_for_brokers(const std::string& bootstrap, int count, std::chrono::milliseconds timeout,
                     const std::optional<KafkaSecurity>& security) {
  const auto deadline = Clock::now() + timeout;
  // Quiet: connection failures are expected while the cluster starts.
  KafkaPtr rk = admin_client(bootstrap, security, ClientLog::kQuiet);
  int seen = 0;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk.get(), 0, nullptr, &raw,
                          to_timeout_ms(std::clamp(left, std::chrono::milliseconds(100),
                                                   std::chrono::milliseconds(2000))));
    MetadataPtr md(raw);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md) seen = md->broker_cnt;
    if (seen >= count || Clock::now() >= deadline) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

void commit_group_at_end(const std::string& bootstrap, const std::string& group,
                         const std::vector<std::string>& topics, std::chrono::milliseconds timeout,
                         const std::optional<KafkaSecurity>& security) {
  ConfPtr conf = new_conf();
  set_conf(conf.get(), "bootstrap.servers", bootstrap);
  apply_security(conf.get(), security);
  set_conf(conf.get(), "group.id", group);
  set_conf(conf.get(), "enable.auto.commit", "false");
  // Never subscribes: it only reads watermarks and commits, without joining.
  KafkaPtr rk = new_client(RD_KAFKA_CONSUMER, std::move(conf));
  MetadataPtr md = fetch_metadata(rk.get(), true, timeout);
  PartitionListPtr list(rd_kafka_topic_partition_list_new(16));
  constexpr auto kRetryPause = std::chrono::milliseconds(200);
  const auto deadline = Clock::now() + timeout;
  for (const auto& topic : topics) {
    const rd_kafka_metadata_topic_t* t = nullptr;
    for (int i = 0; i < md->topic_cnt; ++i)
      if (topic == md->topics[i].topic) t = &md->topics[i];
    if (t == nullptr || t->partition_cnt == 0) throw KafkaError("unknown topic " + topic, false);
    for (int p = 0; p < t->partition_cnt; ++p) {
      int64_t low = 0, high = 0;
      for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk.get(), topic.c_str(), p, &low, &high,
            to_timeout_ms(std::max(left, std::chrono::milliseconds(1))));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        // A leader that moves (topics just created, a broker restarting) is
        // asked again once the client's metadata has caught up.
        if (!is_retryable(err) || Clock::now() + kRetryPause >= deadline) {
          throw KafkaError("end offset of " + topic + ": " + err_text(err), is_retryable(err), err);
        }
        std::this_thread::sleep_for(kRetryPause);
      }
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = high;
    }
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), list.get(), 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw KafkaError("committing offsets of group " + group + ": " + err_text(err),
                     is_retryable(err), err);
}

// --- ACLs ----------------------------------------------------------------

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
      for (const auto& name : rule.names) {
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
