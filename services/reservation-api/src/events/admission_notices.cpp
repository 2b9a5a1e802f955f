#include "events/admission_notices.hpp"

#include <future>
#include <utility>
#include <vector>

#include "events/event_rows.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/redis/pool.hpp"

namespace ticketing::reservation {

namespace {

constexpr const char* kGroup = "notices";

struct Entry {
  std::string id;
  events::QueueAdmittedNote note;
};

std::string field(const redis::Reply& fields, const std::string& name) {
  const auto& f = fields.as_array();
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].as_string() == name) return f[i + 1].as_string();
  }
  return {};
}

std::string rfc3339_of_millis(const std::string& ms) {
  return to_rfc3339(SystemTime(std::chrono::milliseconds(std::stoll(ms))));
}

// [[id, [field, value, ...]], ...] of XREADGROUP / XAUTOCLAIM; an entry that
// cannot be read is returned with user_id 0 (acknowledged and dropped).
std::vector<Entry> entries_of(const redis::Reply& list) {
  std::vector<Entry> out;
  if (!list.is_array()) return out;
  for (const auto& e : list.as_array()) {
    const auto& pair = e.as_array();
    if (pair.size() < 2 || !pair[1].is_array()) continue;  // deleted meanwhile
    Entry entry;
    entry.id = pair[0].as_string();
    try {
      entry.note.user_id = std::stoll(field(pair[1], "uid"));
      entry.note.admitted_at = rfc3339_of_millis(field(pair[1], "at"));
      entry.note.active_until = rfc3339_of_millis(field(pair[1], "until"));
    } catch (const std::exception&) {
      entry.note.user_id = 0;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

AdmissionNotices::AdmissionNotices(redis::Pool& pool, events::Producer& producer,
                                   AdmissionNoticesOptions options)
    : pool_(pool),
      producer_(producer),
      options_(std::move(options)),
      produced_(metrics::global().counter(
          "reservation_queue_admission_notices_total",
          "\"Your turn\" events produced (notifications.queue-admitted)")) {}

void AdmissionNotices::ensure_group() {
  if (group_ready_) return;
  try {
    // From the stream's start: entries written before the group existed count too.
    pool_.command({"XGROUP", "CREATE", options_.prefix + "admitted", kGroup, "0", "MKSTREAM"});
  } catch (const RedisError& e) {
    if (std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
  }
  group_ready_ = true;
}

int AdmissionNotices::publish_round() {
  ensure_group();
  const std::string stream = options_.prefix + "admitted";
  const std::string count = std::to_string(options_.batch);
  std::vector<Entry> entries =
      entries_of(pool_
                     .command({"XAUTOCLAIM", stream, kGroup, options_.consumer_name,
                               std::to_string(options_.claim_after.count()), "0-0", "COUNT", count})
                     .as_array()
                     .at(1));
  if (entries.empty()) {
    const auto read = pool_.command({"XREADGROUP", "GROUP", kGroup, options_.consumer_name, "COUNT",
                                     count, "STREAMS", stream, ">"});
    if (read.is_array() && !read.as_array().empty()) {
      entries = entries_of(read.as_array().at(0).as_array().at(1));
    }
  }
  if (entries.empty()) return 0;

  std::vector<std::pair<std::string, std::future<events::DeliveryReport>>> sent;
  std::vector<std::string> done;
  for (auto& e : entries) {
    if (e.note.user_id <= 0) {
      log::error("unreadable queue admission entry dropped", {{"entry", e.id}});
      done.push_back(e.id);
      continue;
    }
    auto env = events::make_envelope(e.note, std::string(kProducerName));
    env.event_id = name_uuid(stream + "/" + e.id);  // the same for every publication
    sent.emplace_back(
        e.id, producer_.produce(events::make_event_record(env, events::event_key(e.note.user_id))));
  }
  int published = 0;
  for (auto& [id, future] : sent) {
    if (future.wait_for(options_.produce_timeout) != std::future_status::ready) continue;
    const auto report = future.get();
    if (report.ok) {
      done.push_back(id);
      ++published;
    } else {
      log::warn("queue admission notice not produced; retried later",
                {{"entry", id}, {"error", report.error}});
    }
  }
  if (!done.empty()) {
    redis::Command ack{"XACK", stream, kGroup};
    redis::Command del{"XDEL", stream};
    for (const auto& id : done) {
      ack.push_back(id);
      del.push_back(id);
    }
    pool_.command(ack);
    pool_.command(del);
  }
  produced_.inc(static_cast<std::uint64_t>(published));
  return published;
}

}  // namespace ticketing::reservation
