#include "ticketing/events/admin.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "admin_request.hpp"
#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/namespace.hpp"

namespace ticketing::events {

using namespace detail;

namespace detail {

KafkaPtr admin_client(const std::string& bootstrap, const std::optional<KafkaSecurity>& security,
                      ClientLog log_mode) {
  ConfPtr conf = new_conf(log_mode);
  set_conf(conf.get(), "bootstrap.servers", bootstrap);
  apply_security(conf.get(), security);
  set_conf(conf.get(), "client.id", "ticketing-admin");
  return new_client(RD_KAFKA_PRODUCER, std::move(conf));
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

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

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
    auto local = local_topic(t.topic);  // another environment's topic: not ours to show
    if (!local) continue;
    std::string name = *local;
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
    owned.emplace_back(
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, kafka_topic(t.name).c_str()));
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
    const std::string name = local_topic_or_same(rd_kafka_ConfigResource_name(resources[i]));
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
    NewTopicPtr nt(rd_kafka_NewTopic_new(kafka_topic(spec.name).c_str(), spec.partitions,
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
    r.topic = local_topic_or_same(rd_kafka_topic_result_name(trs[i]));
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
    owned.emplace_back(rd_kafka_DeleteTopic_new(kafka_topic(t).c_str()));
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
    r.topic = local_topic_or_same(rd_kafka_topic_result_name(trs[i]));
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
  set_conf(conf.get(), "group.id", kafka_group(group));
  set_conf(conf.get(), "enable.auto.commit", "false");
  // Never subscribes: it only reads watermarks and commits, without joining.
  KafkaPtr rk = new_client(RD_KAFKA_CONSUMER, std::move(conf));
  MetadataPtr md = fetch_metadata(rk.get(), true, timeout);
  PartitionListPtr list(rd_kafka_topic_partition_list_new(16));
  constexpr auto kRetryPause = std::chrono::milliseconds(200);
  const auto deadline = Clock::now() + timeout;
  for (const auto& local : topics) {
    const std::string topic = kafka_topic(local);
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

}  // namespace ticketing::events
