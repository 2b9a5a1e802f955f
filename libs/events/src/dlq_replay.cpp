#include "ticketing/events/dlq_replay.hpp"

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <future>
#include <limits>
#include <stdexcept>
#include <thread>

#include "message_conversion.hpp"
#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/envelope.hpp"

namespace ticketing::events {

using namespace detail;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::optional<std::int64_t> parse_non_negative(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

bool valid_utf8(std::string_view s) {
  rapidjson::MemoryStream in(s.data(), s.size());
  struct Sink {
    void Put(char /*c*/) {}
  } sink;
  while (in.Tell() < s.size()) {
    if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
  }
  return true;
}

std::string to_hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// "name": text, or "nameHex": hex digits when text is not UTF-8 (a poison
// record may hold any bytes, and JSON output must stay valid).
void write_text_field(JsonWriter& w, std::string_view name, std::string_view text) {
  if (valid_utf8(text)) {
    write_string(w, name);
    write_string(w, text);
  } else {
    write_string(w, std::string(name) + "Hex");
    write_string(w, to_hex(text));
  }
}

void write_key(JsonWriter& w, const Message& m) {
  if (m.has_key) {
    write_text_field(w, "key", m.key);
  } else {
    w.Key("key");
    w.Null();
  }
}

}  // namespace

// --- selection ---------------------------------------------------------------

bool DlqSelection::matches(const Message& m) const {
  if (partition && m.partition != *partition) return false;
  if (from_offset && m.offset < *from_offset) return false;
  if (to_offset && m.offset > *to_offset) return false;
  if ((since_ms || until_ms) && m.timestamp_ms < 0) return false;
  if (since_ms && m.timestamp_ms < *since_ms) return false;
  if (until_ms && m.timestamp_ms >= *until_ms) return false;
  if (key && m.key != *key) return false;
  return true;
}

bool apply_selection_option(std::string_view name, std::string_view value, DlqSelection& sel,
                            std::vector<std::string>& problems) {
  const std::string option = "--" + std::string(name);
  auto offset = [&](std::optional<std::int64_t>& out) {
    if (auto v = parse_non_negative(value)) {
      out = *v;
    } else {
      problems.push_back(option + " needs a non-negative integer, got '" + std::string(value) +
                         "'");
    }
  };
  auto time = [&](std::optional<std::int64_t>& out) {
    if (auto t = parse_rfc3339(value)) {
      out = unix_millis(*t);
    } else {
      problems.push_back(option + " needs an RFC 3339 time (e.g. 2026-01-31T18:00:00Z), got '" +
                         std::string(value) + "'");
    }
  };
  if (name == "partition") {
    auto v = parse_non_negative(value);
    if (v && *v <= std::numeric_limits<std::int32_t>::max()) {
      sel.partition = static_cast<std::int32_t>(*v);
    } else {
      problems.push_back(option + " needs a partition number, got '" + std::string(value) + "'");
    }
  } else if (name == "from-offset") {
    offset(sel.from_offset);
  } else if (name == "to-offset") {
    offset(sel.to_offset);
  } else if (name == "since") {
    time(sel.since_ms);
  } else if (name == "until") {
    time(sel.until_ms);
  } else if (name == "key") {
    sel.key = std::string(value);
  } else {
    return false;
  }
  return true;
}

void check_selection(const DlqSelection& sel, std::vector<std::string>& problems) {
  const bool offsets = sel.from_offset || sel.to_offset;
  const bool times = sel.since_ms || sel.until_ms;
  if (offsets && times) {
    problems.push_back(
        "choose an offset range (--from-offset/--to-offset) or a time range "
        "(--since/--until), not both");
  }
  if (sel.from_offset && sel.to_offset && *sel.from_offset > *sel.to_offset) {
    problems.push_back("--from-offset " + std::to_string(*sel.from_offset) +
                       " is after --to-offset " + std::to_string(*sel.to_offset));
  }
  if (sel.since_ms && sel.until_ms && *sel.since_ms >= *sel.until_ms) {
    problems.push_back("--since is not before --until");
  }
}

std::string selection_id(const DlqSelection& sel) {
  std::string text;
  auto add = [&](const char* name, const auto& field) {
    if (field) text += std::string(name) + "=" + std::to_string(*field) + ";";
  };
  add("partition", sel.partition);
  add("from", sel.from_offset);
  add("to", sel.to_offset);
  add("since", sel.since_ms);
  add("until", sel.until_ms);
  if (sel.key) text += "key=" + std::to_string(sel.key->size()) + ":" + *sel.key + ";";
  if (text.empty()) return {};
  // FNV-1a 64: the same on every build, unlike std::hash.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kDigits[h & 0xf];
  return out;
}

std::string error_class(std::string_view error) {
  constexpr std::size_t kMax = 80;
  constexpr std::string_view kPoison = "poison: ";
  const std::size_t from = error.starts_with(kPoison) ? kPoison.size() : 0;
  std::string_view head = error.substr(0, error.find(':', from));
  if (head.size() > kMax) {
    std::size_t cut = kMax;
    // Never split a UTF-8 sequence: back off over continuation bytes.
    while (cut > 0 && (static_cast<unsigned char>(head[cut]) & 0xC0) == 0x80) --cut;
    head = head.substr(0, cut);
  }
  while (!head.empty() && (head.back() == ' ' || head.back() == '\n')) head.remove_suffix(1);
  return head.empty() ? std::string("(no error)") : std::string(head);
}

std::string dead_letter_json(const Message& m) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("topic");
  write_string(w, m.topic);
  w.Key("partition");
  w.Int(m.partition);
  w.Key("offset");
  w.Int64(m.offset);
  w.Key("timestamp");
  if (m.timestamp_ms >= 0) {
    write_string(w, to_rfc3339(SystemTime(milliseconds(m.timestamp_ms))));
  } else {
    w.Null();
  }
  write_key(w, m);
  write_text_field(w, "value", m.value);
  w.Key("headers");
  w.StartObject();
  for (std::size_t i = 0; i < m.headers.size(); ++i) {
    const Header& h = m.headers[i];
    // In record order; of equal names only the last is written.
    const bool later_duplicate =
        std::any_of(m.headers.begin() + static_cast<std::ptrdiff_t>(i) + 1, m.headers.end(),
                    [&](const Header& o) { return o.key == h.key; });
    if (!later_duplicate && valid_utf8(h.key)) write_text_field(w, h.key, h.value);
  }
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// --- replay ------------------------------------------------------------------

Record replay_record(const Message& dead_letter, std::string to_topic) {
  Record r;
  r.topic = std::move(to_topic);
  r.key = dead_letter.key;
  r.value = dead_letter.value;
  for (const auto& h : dead_letter.headers) {
    if (!h.key.starts_with("dlq-")) r.headers.push_back(h);
  }
  r.headers.push_back({std::string(kReplayedFromHeader),
                       dead_letter.topic + "/" + std::to_string(dead_letter.partition) + "/" +
                           std::to_string(dead_letter.offset)});
  return r;
}

const char* to_string(ReplayOutcome outcome) {
  switch (outcome) {
    case ReplayOutcome::kWouldReplay:
      return "would-replay";
    case ReplayOutcome::kReplayed:
      return "replayed";
    case ReplayOutcome::kSkipped:
      return "skipped";
    case ReplayOutcome::kFailed:
      return "failed";
  }
  return "?";
}

std::string replay_item_json(const ReplayItem& item) {
  const Message& m = item.dead_letter;
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("action");
  w.String(to_string(item.outcome));
  w.Key("partition");
  w.Int(m.partition);
  w.Key("offset");
  w.Int64(m.offset);
  write_key(w, m);
  w.Key("toTopic");
  write_string(w, item.to_topic);
  try {
    const Envelope e = parse_envelope(m.value);
    w.Key("eventId");
    write_string(w, e.event_id);
  } catch (const std::exception&) {
    // Not an envelope (e.g. the poison itself): nothing to name it by.
  }
  if (!item.detail.empty()) write_text_field(w, "detail", item.detail);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string replay_summary_json(const ReplaySummary& s, std::string_view group, bool dry_run) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("summary");
  w.StartObject();
  write_text_field(w, "group", group);
  w.Key("dryRun");
  w.Bool(dry_run);
  const std::pair<const char*, std::uint64_t> counts[] = {
      {"read", s.read},         {"passed", s.passed},
      {"selected", s.selected}, {"wouldReplay", s.would_replay},
      {"replayed", s.replayed}, {"skipped", s.skipped},
      {"failed", s.failed}};
  for (const auto& [name, n] : counts) {
    w.Key(name);
    w.Uint64(n);
  }
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

ReplaySummary replay_dead_letters(const ReplayOptions& o) {
  if (o.group.empty())
    throw std::invalid_argument("replay needs a consumer group for its progress");
  // Read once: the reader and the producer act as the same principal.
  const KafkaSecurity security = resolve_security(o.security);
  DlqReadOptions ro;
  ro.bootstrap = o.bootstrap;
  ro.topic = o.dlq_topic;
  ro.selection = o.selection;
  ro.group = o.group;
  ro.client_id = o.client_id;
  ro.idle_timeout = o.idle_timeout;
  ro.security = security;
  DlqReader reader(ro);

  std::optional<Producer> producer;
  if (!o.dry_run) {
    ProducerOptions po;
    po.bootstrap_servers = o.bootstrap;
    po.client_id = o.client_id;
    po.delivery_timeout_ms = static_cast<int>(o.delivery_timeout.count());
    po.security = security;
    producer.emplace(po);
  }

  ReplaySummary sum;
  auto report = [&](const Message& m, std::string to_topic, ReplayOutcome outcome,
                    std::string detail = {}) {
    if (o.on_record) o.on_record(ReplayItem{m, std::move(to_topic), outcome, std::move(detail)});
  };

  struct InFlight {
    Message message;
    std::string to_topic;
    std::future<DeliveryReport> ack;
  };
  std::vector<InFlight> flight;
  // Next offset to read of each partition, for the records read since the
  // last commit (all of them settled once `flight` is empty).
  std::map<std::int32_t, std::int64_t> positions;
  std::size_t read_since_commit = 0;
  bool stop = false;
  std::size_t batch = std::max<std::size_t>(1, o.batch);
  if (o.rate_per_s > 0) {
    batch = std::min(batch, static_cast<std::size_t>(std::ceil(o.rate_per_s)));
  }

  // Waits for the acks of the batch, then commits what may be: a refused
  // record keeps its partition's position at it, and ends the run.
  auto settle = [&] {
    std::map<std::int32_t, std::int64_t> refused;
    for (auto& f : flight) {
      const DeliveryReport r = f.ack.get();
      if (r.ok) {
        ++sum.replayed;
        report(f.message, f.to_topic, ReplayOutcome::kReplayed);
      } else {
        ++sum.failed;
        refused.emplace(f.message.partition, f.message.offset);
        report(f.message, f.to_topic, ReplayOutcome::kFailed, r.error);
      }
    }
    flight.clear();
    for (const auto& [p, offset] : refused) positions[p] = offset;
    if (!refused.empty()) stop = true;
    if (!o.dry_run) reader.commit(positions);
    positions.clear();
    read_since_commit = 0;
  };

  const auto paced_from = Clock::now();
  std::uint64_t produced = 0;
  while (!stop) {
    std::optional<Message> m = reader.next();
    if (!m) break;
    ++sum.read;
    ++read_since_commit;
    positions[m->partition] = m->offset + 1;
    if (!o.selection.matches(*m) || (o.filter && !o.filter(*m))) {
      ++sum.passed;
    } else {
      ++sum.selected;
      const std::string* original = m->header(dlq_header::kOriginalTopic);
      std::string to_topic =
          original != nullptr && !original->empty() ? *original : o.fallback_topic;
      if (to_topic.empty()) {
        ++sum.skipped;
        report(*m, {}, ReplayOutcome::kSkipped,
               "no " + std::string(dlq_header::kOriginalTopic) + " header");
      } else if (o.dry_run) {
        ++sum.would_replay;
        report(*m, std::move(to_topic), ReplayOutcome::kWouldReplay);
      } else {
        if (o.rate_per_s > 0) {
          const auto due =
              paced_from +
              std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(static_cast<double>(produced) / o.rate_per_s));
          std::this_thread::sleep_until(due);
        }
        ++produced;
        try {
          auto ack = producer->produce(replay_record(*m, to_topic));
          flight.push_back({std::move(*m), std::move(to_topic), std::move(ack)});
        } catch (const KafkaError& e) {
          ++sum.failed;
          report(*m, to_topic, ReplayOutcome::kFailed, e.what());
          positions[m->partition] = m->offset;  // not past the record that was not sent
          settle();
          stop = true;
          break;
        }
      }
    }
    if (flight.size() >= batch || read_since_commit >= batch * 10) settle();
  }
  if (!stop) settle();
  return sum;
}

}  // namespace ticketing::events
