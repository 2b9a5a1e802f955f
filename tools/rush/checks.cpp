#include "checks.hpp"

#include <librdkafka/rdkafka.h>
#include <algorithm>

#include <memory>
#include <set>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "ticketing/db/connection.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/namespace.hpp"
#include "ticketing/events/security.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/http/client.hpp"

namespace ticketing::rush {

using namespace std::chrono_literals;

const std::map<std::string, std::vector<std::string>>& subscriptions() {
  namespace t = events::topics;
  auto names = [](std::initializer_list<std::string_view> list) {
    return std::vector<std::string>(list.begin(), list.end());
  };
  static const std::map<std::string, std::vector<std::string>> subs = {
      {"reservation-api", names({t::kPaymentCompleted, t::kSeatsExpired})},
      {"payment-api",
       names({t::kReservationHeld, t::kReservationCancelled, t::kReservationConfirmationFailed})},
      {"seat-expiry-scheduler",
       names({t::kReservationHeld, t::kReservationConfirmed, t::kReservationCancelled})},
      {"dataplatform-relay", names({t::kReservationConfirmed})},
      {"notification-worker",
       names({t::kNotifyPaymentCompleted, t::kNotifyReservationCompleted, t::kNotifyPaymentRefunded,
              t::kNotifyReservationConfirmed, t::kNotifyHoldExpired, t::kNotifyQueueAdmitted,
              t::kSeatsExpired})}};
  return subs;
}

namespace {

// Every dead-letter topic: that of each event topic (the notifications share one).
const std::vector<std::string>& dlq_topics() {
  static const std::vector<std::string> topics = [] {
    std::vector<std::string> out;
    for (auto topic : events::topics::kAll) {
      std::string dlq = events::dlq_topic_for(topic);
      if (std::find(out.begin(), out.end(), dlq) == out.end()) out.push_back(std::move(dlq));
    }
    return out;
  }();
  return topics;
}

// A consumer handle used only for metadata, watermarks and committed
// offsets: it never subscribes, so it never joins (or disturbs) a group.
// Topic and group names as in this environment (TOPIC_PREFIX, namespace.hpp).
class KafkaProbe {
 public:
  KafkaProbe(const std::string& bootstrap, const std::string& group,
             std::string prefix = events::topic_prefix())
      : prefix_(std::move(prefix)) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const char* k, const std::string& v) {
      if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        throw std::runtime_error(fmt::format("kafka config {}: {}", k, err));
    };
    set("bootstrap.servers", bootstrap);
    for (const auto& [name, value] : events::KafkaSecurity::from_env().librdkafka_properties())
      set(name.c_str(), value);
    set("group.id", events::kafka_topic(group.empty() ? "ticketing-rush-probe" : group, prefix_));
    set("enable.auto.commit", "false");
    set("log_level", "3");
    rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err));
    if (!rk_) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("kafka client: ") + err);
    }
  }

  int partitions(const std::string& topic) {
    rd_kafka_topic_t* t =
        rd_kafka_topic_new(rk_.get(), events::kafka_topic(topic, prefix_).c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    auto e = rd_kafka_metadata(rk_.get(), 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error(fmt::format("metadata of {}: {}", topic, rd_kafka_err2str(e)));
    int n = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
                ? md->topics[0].partition_cnt
                : 0;
    rd_kafka_metadata_destroy(md);
    if (n == 0) throw std::runtime_error("topic " + topic + " not found");
    return n;
  }

  std::int64_t end_offset(const std::string& topic, int partition) {
    int64_t lo = 0, hi = 0;
    for (int attempt = 0;; ++attempt) {
      auto e = rd_kafka_query_watermark_offsets(
          rk_.get(), events::kafka_topic(topic, prefix_).c_str(), partition, &lo, &hi, 10000);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return hi;
      // Leadership moves while a broker restarts: ask again.
      if (attempt == 20)
        throw std::runtime_error(
            fmt::format("end offset of {}[{}]: {}", topic, partition, rd_kafka_err2str(e)));
      std::this_thread::sleep_for(500ms);
    }
  }

  // Committed offset per partition of the handle's group (-1 = none).
  std::vector<std::int64_t> committed(const std::string& topic, int partitions) {
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    decltype(&rd_kafka_topic_partition_list_destroy)>
        list(rd_kafka_topic_partition_list_new(partitions), rd_kafka_topic_partition_list_destroy);
    for (int p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(list.get(), events::kafka_topic(topic, prefix_).c_str(), p);
    for (int attempt = 0;; ++attempt) {
      auto e = rd_kafka_committed(rk_.get(), list.get(), 10000);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (attempt == 20)
        throw std::runtime_error(
            fmt::format("committed offsets of {}: {}", topic, rd_kafka_err2str(e)));
      std::this_thread::sleep_for(500ms);
    }
    std::vector<std::int64_t> out(static_cast<std::size_t>(partitions), -1);
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      if (tp.offset >= 0) out[static_cast<std::size_t>(tp.partition)] = tp.offset;
    }
    return out;
  }

 private:
  struct Destroy {
    void operator()(rd_kafka_t* rk) const {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  };
  std::string prefix_;
  std::unique_ptr<rd_kafka_t, Destroy> rk_;
};

std::set<std::string> baseline_topics() {
  std::set<std::string> topics(dlq_topics().begin(), dlq_topics().end());
  for (const auto& [service, subs] : subscriptions()) topics.insert(subs.begin(), subs.end());
  return topics;
}

db::Connection connect(const SystemUnderTest& sut) {
  auto opts = db::parse_url(sut.mysql_url);
  opts.database.clear();
  return db::Connection(opts);
}

std::int64_t scalar(db::Connection& c, const std::string& sql) {
  auto row = c.query_one(sql);
  return row && !row->is_null(0) ? row->i64(0) : 0;
}

rapidjson::Document fetch_requests(const std::string& control, const std::string& path) {
  http::ClientOptions o;
  o.max_response_bytes = 256 * 1024 * 1024;
  http::Client client(o);
  http::ClientRequest req;
  req.method = "GET";
  req.url = control + "/_control/requests?path=" + path;
  req.total_timeout = 30s;
  auto r = client.send(req);
  if (r.status != 200) throw std::runtime_error(fmt::format("{}: HTTP {}", req.url, r.status));
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("requests"))
    throw std::runtime_error(req.url + ": not the expected JSON");
  return d;
}

}  // namespace

std::int64_t Tally::total_lag() const {
  std::int64_t n = 0;
  for (const auto& [g, l] : lag) n += l;
  return n;
}

std::int64_t Tally::total_dead_letters() const {
  std::int64_t n = 0;
  for (const auto& [t, c] : dead_letters) n += c;
  return n;
}

bool Tally::buyers_told() const {
  return !webhook_checked ||
         (notified_holds == confirmed + expired + cancelled + held &&
          notified_expiries == expired && notified_refunds == payments_refunded &&
          notified_turns >= turns_owed);
}

Baseline take_baseline(const SystemUnderTest& sut) {
  KafkaProbe probe(sut.kafka_bootstrap, {});
  Baseline b;
  for (const auto& topic : baseline_topics()) {
    int n = probe.partitions(topic);
    auto& ends = b.end_offsets[topic];
    for (int p = 0; p < n; ++p) ends.push_back(probe.end_offset(topic, p));
  }
  if (sut.mysql_url.empty()) return b;
  auto c = connect(sut);
  // Before the first start the payment database does not exist yet.
  if (scalar(c,
             fmt::format("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}'"
                         " AND table_name = 'point_history'",
                         sut.payment_db)) > 0)
    b.charges = scalar(
        c,
        fmt::format("SELECT COALESCE(SUM(amount), 0) FROM `{}`.point_history WHERE kind = 'CHARGE'",
                    sut.payment_db));
  return b;
}

void start_groups_at_end(const SystemUnderTest& sut) {
  for (const auto& [service, topics] : subscriptions()) {
    auto g = sut.groups.find(service);
    if (g != sut.groups.end()) events::commit_group_at_end(sut.kafka_bootstrap, g->second, topics);
  }
}

std::int64_t count_seats(const SystemUnderTest& sut) {
  auto c = connect(sut);
  return scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.seats", sut.reservation_db));
}

namespace {

// Seats and reservations: counts by status and the invariants between them.
void measure_reservations(db::Connection& c, const std::string& r, Tally& t) {
  t.seats = scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.seats", r));
  t.reserved_seats =
      scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.seats WHERE status = 'RESERVED'", r));
  t.held_seats = scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.seats WHERE status = 'HELD'", r));
  // A hold past its expiry still marked HELD (the scheduler has not released it).
  t.stale_held_seats = scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.seats WHERE status = "
                                             "'HELD' AND hold_expires_at < UTC_TIMESTAMP(3)",
                                             r));
  for (auto& row : c.query(
           fmt::format("SELECT status, COUNT(*) AS n FROM `{}`.reservations GROUP BY status", r))) {
    auto s = row.str("status");
    auto n = row.i64("n");
    if (s == "CONFIRMED")
      t.confirmed = n;
    else if (s == "EXPIRED")
      t.expired = n;
    else if (s == "CANCELLED")
      t.cancelled = n;
    else if (s == "HELD")
      t.held = n;
  }
  t.stale_holds = scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.reservations WHERE status = "
                                        "'HELD' AND expires_at < UTC_TIMESTAMP(3)",
                                        r));
  t.double_sold = scalar(c, fmt::format("SELECT COUNT(*) FROM (SELECT schedule_id, seat_no FROM "
                                        "`{}`.reservations WHERE status = 'CONFIRMED'"
                                        " GROUP BY schedule_id, seat_no HAVING COUNT(*) > 1) AS d",
                                        r));
  t.reserved_without_confirmation = scalar(
      c, fmt::format("SELECT COUNT(*) FROM `{0}`.seats s LEFT JOIN `{0}`.reservations x ON x.id = "
                     "s.held_by_reservation"
                     " WHERE s.status = 'RESERVED' AND (x.status IS NULL OR x.status <> 'CONFIRMED'"
                     " OR x.schedule_id <> s.schedule_id OR x.seat_no <> s.seat_no)",
                     r));
  t.seats_kept_by_dead_holds = scalar(
      c, fmt::format("SELECT COUNT(*) FROM `{0}`.seats s JOIN `{0}`.reservations x ON x.id = "
                     "s.held_by_reservation"
                     " WHERE s.status <> 'AVAILABLE' AND x.status IN ('EXPIRED', 'CANCELLED')",
                     r));
}

// Points and payments, and payments against reservations.
void measure_payments(db::Connection& c, const std::string& p, const std::string& r,
                      const Baseline& base, Tally& t) {
  for (auto& row : c.query(fmt::format(
           "SELECT kind, COALESCE(SUM(amount), 0) AS s FROM `{}`.point_history GROUP BY kind",
           p))) {
    auto k = row.str("kind");
    auto s = row.i64("s");
    if (k == "CHARGE")
      t.charges = s;
    else if (k == "PAYMENT")
      t.payments = s;
    else if (k == "REFUND")
      t.refunds = s;
  }
  t.charges_before = base.charges;
  t.balances = scalar(c, fmt::format("SELECT COALESCE(SUM(balance), 0) FROM `{}`.wallets", p));
  t.payments_completed =
      scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.payments WHERE status = 'COMPLETED'", p));
  t.payments_refunded =
      scalar(c, fmt::format("SELECT COUNT(*) FROM `{}`.payments WHERE status = 'REFUNDED'", p));
  t.completed_not_confirmed = scalar(
      c,
      fmt::format("SELECT COUNT(*) FROM `{}`.payments y LEFT JOIN `{}`.reservations x ON x.id = "
                  "y.reservation_id"
                  " WHERE y.status = 'COMPLETED' AND (x.status IS NULL OR x.status <> 'CONFIRMED')",
                  p, r));
  t.refunded_but_confirmed = scalar(
      c,
      fmt::format(
          "SELECT COUNT(*) FROM `{}`.payments y JOIN `{}`.reservations x ON x.id = y.reservation_id"
          " WHERE y.status = 'REFUNDED' AND x.status = 'CONFIRMED'",
          p, r));
}

// What the fake data platform and the fake webhook received, against the
// confirmed reservations.
void measure_peers(const SystemUnderTest& sut, db::Connection& c, Tally& t) {
  const auto& r = sut.reservation_db;
  std::set<std::int64_t> confirmed_ids;
  for (auto& row :
       c.query(fmt::format("SELECT id FROM `{}`.reservations WHERE status = 'CONFIRMED'", r)))
    confirmed_ids.insert(row.i64("id"));

  // The data platform: distinct reservations it accepted (2xx).
  std::set<std::int64_t> delivered;
  if (!sut.dataplatform_control_url.empty()) {
    auto d = fetch_requests(sut.dataplatform_control_url, "/reservations");
    for (auto& q : d["requests"].GetArray()) {
      ++t.delivery_attempts;
      int status = q["status"].GetInt();
      std::string key = q["idempotencyKey"].GetString();
      if (status < 200 || status >= 300 || key.rfind("reservation-", 0) != 0) continue;
      auto id = std::stoll(key.substr(12));
      if (confirmed_ids.count(id))
        delivered.insert(id);
      else
        ++t.delivered_unknown;
    }
  }
  t.delivered = static_cast<std::int64_t>(delivered.size());
  t.platform_checked = !sut.dataplatform_control_url.empty();
  t.webhook_checked = !sut.webhook_control_url.empty();

  // Notifications: distinct events per type received by the webhook.
  std::set<std::string> res_events, pay_events, refund_events, held_events, expired_events,
      turn_events;
  if (!sut.webhook_control_url.empty()) {
    auto d = fetch_requests(sut.webhook_control_url, "/webhook");
    for (auto& q : d["requests"].GetArray()) {
      ++t.notifications_received;
      int status = q["status"].GetInt();
      if (status < 200 || status >= 300) continue;
      rapidjson::Document body;
      body.Parse(q["body"].GetString());
      if (body.HasParseError() || !body.IsObject() || !body.HasMember("eventType")) continue;
      std::string type = body["eventType"].GetString();
      std::string id = body["eventId"].GetString();
      if (type == events::topics::kNotifyReservationConfirmed)
        res_events.insert(id);
      else if (type == events::topics::kNotifyReservationCompleted)
        held_events.insert(id);
      else if (type == events::topics::kNotifyHoldExpired)
        expired_events.insert(id);
      else if (type == events::topics::kNotifyQueueAdmitted)
        turn_events.insert(id);
      else if (type == events::topics::kNotifyPaymentCompleted)
        pay_events.insert(id);
      else if (type == events::topics::kNotifyPaymentRefunded)
        refund_events.insert(id);
    }
  }
  t.notified_reservations = static_cast<std::int64_t>(res_events.size());
  t.notified_payments = static_cast<std::int64_t>(pay_events.size());
  t.notified_refunds = static_cast<std::int64_t>(refund_events.size());
  t.notified_holds = static_cast<std::int64_t>(held_events.size());
  t.notified_expiries = static_cast<std::int64_t>(expired_events.size());
  t.notified_turns = static_cast<std::int64_t>(turn_events.size());
  if (t.platform_checked)
    t.confirmed_not_delivered = static_cast<std::int64_t>(confirmed_ids.size()) - t.delivered;
  if (t.webhook_checked)
    t.confirmed_not_notified =
        static_cast<std::int64_t>(confirmed_ids.size()) - t.notified_reservations;
}

// Every group's lag on what it consumes, and new records in the DLQs.
void measure_kafka(const SystemUnderTest& sut, const Baseline& base, Tally& t) {
  for (const auto& [service, topics] : subscriptions()) {
    auto g = sut.groups.find(service);
    if (g == sut.groups.end()) continue;
    KafkaProbe probe(sut.kafka_bootstrap, g->second);
    std::int64_t lag = 0;
    for (const auto& topic : topics) {
      const auto& start = base.end_offsets.at(topic);
      auto committed = probe.committed(topic, static_cast<int>(start.size()));
      for (std::size_t i = 0; i < start.size(); ++i) {
        auto end = probe.end_offset(topic, static_cast<int>(i));
        lag += end - (committed[i] >= 0 ? committed[i] : start[i]);
      }
    }
    t.lag[g->second] = lag;
  }
  KafkaProbe probe(sut.kafka_bootstrap, {});
  for (const auto& topic : dlq_topics()) {
    const auto& start = base.end_offsets.at(topic);
    std::int64_t n = 0;
    for (std::size_t i = 0; i < start.size(); ++i)
      n += probe.end_offset(topic, static_cast<int>(i)) - start[i];
    t.dead_letters[topic] = n;
  }
}

}  // namespace

std::map<std::string, std::int64_t> topic_end_offsets(const std::string& bootstrap,
                                                      const std::vector<std::string>& topics,
                                                      const std::string& prefix) {
  KafkaProbe probe(bootstrap, {}, prefix);
  std::map<std::string, std::int64_t> out;
  for (const auto& topic : topics) {
    int n = 0;
    try {
      n = probe.partitions(topic);
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("not found") == std::string::npos) throw;
      out[topic] = -1;  // no such topic in that environment
      continue;
    }
    std::int64_t sum = 0;
    for (int p = 0; p < n; ++p) sum += probe.end_offset(topic, p);
    out[topic] = sum;
  }
  return out;
}

Tally measure(const SystemUnderTest& sut, const Baseline& base) {
  Tally t;
  auto c = connect(sut);
  measure_reservations(c, sut.reservation_db, t);
  measure_payments(c, sut.payment_db, sut.reservation_db, base, t);
  measure_peers(sut, c, t);
  measure_kafka(sut, base, t);
  return t;
}

Tally settle(const SystemUnderTest& sut, const Baseline& base, const RushResult& rush,
             std::chrono::seconds limit, const std::function<void(const std::string&)>& progress) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto next_line = std::chrono::steady_clock::now();
  for (;;) {
    auto t = measure(sut, base);
    t.turns_owed = rush.counters.admitted_after_waiting;
    bool quiet = t.stale_holds == 0 && t.stale_held_seats == 0 && t.total_lag() == 0 &&
                 t.confirmed_not_delivered == 0 && t.confirmed_not_notified == 0 &&
                 t.payments_completed == t.confirmed && t.buyers_told();
    if (quiet || std::chrono::steady_clock::now() >= deadline) return t;
    if (progress && std::chrono::steady_clock::now() >= next_line) {
      progress(fmt::format(
          "settling: holds past expiry {}, lag {}, confirmed {} delivered {} notified {}",
          t.stale_holds, t.total_lag(), t.confirmed, t.delivered, t.notified_reservations));
      next_line += 2s;
    }
    std::this_thread::sleep_for(1s);
  }
}

std::vector<Check> check_invariants(const Tally& t, const RushResult& rush) {
  std::vector<Check> checks;
  auto add = [&](std::string name, bool ok, std::string detail) {
    checks.push_back(Check{std::move(name), ok, std::move(detail)});
  };
  add("no seat sold twice", t.double_sold == 0 && t.reserved_without_confirmation == 0,
      fmt::format("{} seats with two confirmations, {} RESERVED seats without their confirmation",
                  t.double_sold, t.reserved_without_confirmation));
  add("reserved seats = confirmed reservations = data platform = notifications",
      t.reserved_seats == t.confirmed && t.delivered_unknown == 0 &&
          t.confirmed_not_delivered == 0 && t.confirmed_not_notified == 0,
      fmt::format("{} RESERVED, {} CONFIRMED, {}, {}", t.reserved_seats, t.confirmed,
                  t.platform_checked
                      ? fmt::format("{} delivered ({} unknown)", t.delivered, t.delivered_unknown)
                      : std::string("data platform not checked (no fake)"),
                  t.webhook_checked ? fmt::format("{} notified", t.notified_reservations)
                                    : std::string("notifications not checked (no fake webhook)")));
  if (t.webhook_checked) {
    add("every hold, expiry, refund and turn told to its buyer", t.buyers_told(),
        fmt::format("{} holds, {} \"seat held\" messages; {} EXPIRED, {} \"hold expired\"; {} "
                    "REFUNDED, {} \"refunded\"; {} let in after waiting, {} \"your turn\"",
                    t.confirmed + t.expired + t.cancelled + t.held, t.notified_holds, t.expired,
                    t.notified_expiries, t.payments_refunded, t.notified_refunds, t.turns_owed,
                    t.notified_turns));
  }
  add("every expired hold's seat is free again",
      t.stale_holds == 0 && t.stale_held_seats == 0 && t.seats_kept_by_dead_holds == 0,
      fmt::format(
          "{} EXPIRED, {} CANCELLED; {} holds past expiry, {} seats still held past expiry, "
          "{} seats kept by an ended hold",
          t.expired, t.cancelled, t.stale_holds, t.stale_held_seats, t.seats_kept_by_dead_holds));
  add("points conserved: charges - payments + refunds = balances",
      t.charges - t.payments + t.refunds == t.balances &&
          t.charges - t.charges_before == rush.counters.charged_points,
      fmt::format("{} - {} + {} = {} (balances {}; buyers charged {}, recorded {})", t.charges,
                  t.payments, t.refunds, t.charges - t.payments + t.refunds, t.balances,
                  rush.counters.charged_points, t.charges - t.charges_before));
  add("every completed payment confirmed, every refunded one not",
      t.completed_not_confirmed == 0 && t.refunded_but_confirmed == 0 &&
          t.payments_completed == t.confirmed,
      fmt::format(
          "{} COMPLETED, {} REFUNDED; {} completed without confirmation, {} refunded but confirmed",
          t.payments_completed, t.payments_refunded, t.completed_not_confirmed,
          t.refunded_but_confirmed));
  std::string lags;
  for (const auto& [g, l] : t.lag) lags += fmt::format("{}{}={}", lags.empty() ? "" : ", ", g, l);
  add("every consumer group's lag is 0", t.total_lag() == 0, lags);
  std::string dlq;
  for (const auto& [topic, n] : t.dead_letters)
    if (n) dlq += fmt::format("{}{}={}", dlq.empty() ? "" : ", ", topic, n);
  add("nothing in any DLQ", t.total_dead_letters() == 0, dlq.empty() ? "0 new records" : dlq);
  add("buyers' view agrees with the databases",
      rush.counters.confirmed <= t.confirmed && rush.counters.refunded <= t.payments_refunded &&
          rush.counters.unexpected == 0,
      fmt::format("buyers saw {} confirmed and {} refunded; {} unexpected answers",
                  rush.counters.confirmed, rush.counters.refunded, rush.counters.unexpected));
  return checks;
}

}  // namespace ticketing::rush
