// DlqReader: a dead-letter topic read without joining a group (assigned
// partitions, offsets planned from the selection), committing only when a
// replay group is named. The replay itself is in dlq_replay.cpp.
#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include "message_conversion.hpp"
#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/dlq_replay.hpp"
#include "ticketing/events/namespace.hpp"

namespace ticketing::events {

using namespace detail;

namespace {

using Clock = std::chrono::steady_clock;

std::string where(const std::string& topic, std::int32_t partition) {
  return topic + "[" + std::to_string(partition) + "]";
}

}  // namespace

struct DlqReader::Impl {
  DlqReadOptions options;
  std::string kafka_name;  // options.topic as Kafka knows it (TOPIC_PREFIX)
  KafkaPtr rk;
  std::vector<DlqPartitionRange> ranges;
  std::map<std::int32_t, std::int64_t> unread;  // partition -> stop, while records are expected

  [[nodiscard]] int timeout_ms() const { return to_timeout_ms(options.request_timeout); }

  void open() {
    const DlqReadOptions& o = options;
    kafka_name = kafka_topic(o.topic);
    ConfPtr conf = new_conf();
    set_conf(conf.get(), "bootstrap.servers", o.bootstrap);
    apply_security(conf.get(), o.security);
    set_conf(conf.get(), "client.id", o.client_id);
    // librdkafka's consumer wants a group id even when it only assigns;
    // without a replay group it is never used (nothing is committed, nothing
    // joins).
    set_conf(conf.get(), "group.id",
             kafka_group(o.group.empty() ? o.client_id + ".read-only" : o.group));
    set_conf(conf.get(), "enable.auto.commit", "false");
    set_conf(conf.get(), "enable.auto.offset.store", "false");
    // EOF tells that a partition has nothing more even when its offsets have
    // gaps (e.g. transaction markers) below the sampled end.
    set_conf(conf.get(), "enable.partition.eof", "true");
    // A start offset removed by retention meanwhile: go on from the oldest left.
    set_conf(conf.get(), "auto.offset.reset", "earliest");
    rk = new_client(RD_KAFKA_CONSUMER, std::move(conf));
    rd_kafka_poll_set_consumer(rk.get());
  }

  // The topic's partition count; the selected partition must be one of them.
  [[nodiscard]] int partition_count() const {
    const rd_kafka_metadata_t* raw = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 1, nullptr, &raw, timeout_ms());
    MetadataPtr md(raw);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError("cluster metadata unavailable: " + err_text(err), is_retryable(err), err);
    }
    int partitions = -1;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (kafka_name == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = md->topics[i].partition_cnt;
      }
    }
    if (partitions <= 0) {
      throw std::invalid_argument("no topic '" + options.topic + "' in the cluster");
    }
    const auto& only = options.selection.partition;
    if (only && *only >= partitions) {
      throw std::invalid_argument("topic '" + options.topic + "' has no partition " +
                                  std::to_string(*only) + " (it has " + std::to_string(partitions) +
                                  ")");
    }
    return partitions;
  }

  // Each selected partition's range from its watermarks and the offsets asked.
  void plan(int partitions) {
    const DlqSelection& sel = options.selection;
    for (std::int32_t p = 0; p < partitions; ++p) {
      if (sel.partition && p != *sel.partition) continue;
      DlqPartitionRange r;
      r.partition = p;
      const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          rk.get(), kafka_name.c_str(), p, &r.low, &r.high, timeout_ms());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw KafkaError("offsets of " + where(options.topic, p) + ": " + err_text(err),
                         is_retryable(err), err);
      }
      r.start = std::max(r.low, sel.from_offset.value_or(0));
      // to_offset is inclusive; no +1 past the end (INT64_MAX would overflow).
      r.stop = sel.to_offset && *sel.to_offset < r.high ? *sel.to_offset + 1 : r.high;
      ranges.push_back(r);
    }
  }

  template <typename Fill>
  PartitionListPtr per_partition(Fill fill) const {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
    for (const auto& r : ranges) {
      rd_kafka_topic_partition_list_add(list.get(), kafka_name.c_str(), r.partition)->offset =
          fill(r);
    }
    return list;
  }

  [[nodiscard]] std::int64_t offset_of(const rd_kafka_topic_partition_list_t* list,
                                       std::int32_t partition) const {
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      if (e.partition != partition) continue;
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw KafkaError(where(options.topic, partition) + ": " + err_text(e.err),
                         is_retryable(e.err), e.err);
      }
      return e.offset;
    }
    return std::int64_t{RD_KAFKA_OFFSET_INVALID};
  }

  // `use` gets each range and the first offset whose timestamp is >= t (the
  // end when there is none).
  template <typename Use>
  void apply_time(std::int64_t t, Use use) {
    PartitionListPtr list = per_partition([t](const DlqPartitionRange&) { return t; });
    const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk.get(), list.get(), timeout_ms());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError("offsets by time of " + options.topic + ": " + err_text(err),
                       is_retryable(err), err);
    }
    for (auto& r : ranges) {
      const std::int64_t off = offset_of(list.get(), r.partition);
      use(r, off < 0 ? r.high : off);
    }
  }

  // A replay group starts where it stopped last time.
  void skip_committed() {
    PartitionListPtr list = per_partition(
        [](const DlqPartitionRange&) { return std::int64_t{RD_KAFKA_OFFSET_INVALID}; });
    const rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), list.get(), timeout_ms());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError("committed offsets of group " + options.group + ": " + err_text(err),
                       is_retryable(err), err);
    }
    for (auto& r : ranges) {
      const std::int64_t committed = offset_of(list.get(), r.partition);
      if (committed >= 0) r.start = std::max(r.start, committed);
    }
  }

  void assign() {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
    for (auto& r : ranges) {
      r.stop = std::max(r.stop, r.start);
      if (r.start >= r.stop) continue;
      rd_kafka_topic_partition_list_add(list.get(), kafka_name.c_str(), r.partition)->offset =
          r.start;
      unread[r.partition] = r.stop;
    }
    if (unread.empty()) return;
    const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError("assigning " + options.topic + ": " + err_text(err), is_retryable(err), err);
    }
  }

  void done(std::int32_t partition) {
    if (unread.erase(partition) == 0) return;
    // Records already fetched beyond the range are dropped by next().
    PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), kafka_name.c_str(), partition);
    rd_kafka_pause_partitions(rk.get(), list.get());
  }
};

DlqReader::DlqReader(DlqReadOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  s.open();
  s.plan(s.partition_count());
  if (s.ranges.empty()) return;
  const DlqSelection& sel = s.options.selection;
  if (sel.since_ms) {
    s.apply_time(*sel.since_ms,
                 [](DlqPartitionRange& r, std::int64_t off) { r.start = std::max(r.start, off); });
  }
  if (sel.until_ms) {
    s.apply_time(*sel.until_ms,
                 [](DlqPartitionRange& r, std::int64_t off) { r.stop = std::min(r.stop, off); });
  }
  if (!s.options.group.empty()) s.skip_committed();
  s.assign();
}

DlqReader::~DlqReader() {
  if (!impl_ || !impl_->rk) return;
  // Assigned only, never subscribed: close just stops the fetchers.
  rd_kafka_consumer_close(impl_->rk.get());
}

const std::vector<DlqPartitionRange>& DlqReader::ranges() const {
  return impl_->ranges;
}

std::optional<Message> DlqReader::next() {
  Impl& s = *impl_;
  auto last_progress = Clock::now();
  while (!s.unread.empty()) {
    MessagePtr m(rd_kafka_consumer_poll(s.rk.get(), 200));
    if (!m) {
      if (Clock::now() - last_progress >= s.options.idle_timeout) {
        std::string left;
        for (const auto& [p, stop] : s.unread)
          left += (left.empty() ? "" : ", ") + where(s.options.topic, p);
        throw KafkaError("no record within " + std::to_string(s.options.idle_timeout.count()) +
                             " ms while some are left to read in " + left,
                         true);
      }
      continue;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      s.done(m->partition);
      last_progress = Clock::now();
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string detail = rd_kafka_message_errstr(m.get());
      if (m->err == RD_KAFKA_RESP_ERR__FATAL || !is_retryable(m->err)) {
        if (m->err != RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
          throw KafkaError("reading " + s.options.topic + ": " + err_text(m->err) + " " + detail,
                           false, m->err);
        }
      }
      log::warn("dlq read error",
                {{"topic", s.options.topic}, {"error", err_text(m->err)}, {"detail", detail}});
      continue;
    }
    auto it = s.unread.find(m->partition);
    if (it == s.unread.end()) continue;  // fetched before its partition was done
    const std::int64_t stop = it->second;
    if (m->offset >= stop) {
      s.done(m->partition);
      continue;
    }
    if (m->offset + 1 >= stop) s.done(m->partition);
    return to_message(m.get());
  }
  return std::nullopt;
}

void DlqReader::commit(const std::map<std::int32_t, std::int64_t>& positions) {
  Impl& s = *impl_;
  if (s.options.group.empty()) throw KafkaError("commit without a group", false);
  if (positions.empty()) return;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())));
  for (const auto& [p, offset] : positions) {
    rd_kafka_topic_partition_list_add(list.get(), s.kafka_name.c_str(), p)->offset = offset;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(s.rk.get(), list.get(), 0 /* sync */);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt && err == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      err = list->elems[i].err;
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("committing the progress of group " + s.options.group + ": " + err_text(err),
                     is_retryable(err), err);
  }
}

}  // namespace ticketing::events
