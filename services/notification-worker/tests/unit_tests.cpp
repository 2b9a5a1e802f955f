// Rendering, channel formats, composites and configuration, without servers.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <map>
#include <optional>
#include <set>

#include "channels/notifier.hpp"
#include "channels/wiring.hpp"
#include "config.hpp"
#include "domain/message.hpp"
#include "ticketing/common/config.hpp"
#include "ticketing/events/envelope.hpp"

using namespace ticketing;
using namespace ticketing::notification;

namespace {

events::Envelope envelope(const std::string& type, const std::string& data) {
  return events::Envelope::make(type, "test", data);
}

const char* kPaid =
    R"({"userId":7,"paymentId":501,"reservationId":1042,"amount":55000,"balance":45000,"paidAt":"2026-03-14T09:31:00.000Z"})";
const char* kPaidSeat =
    R"({"userId":7,"paymentId":501,"reservationId":1042,"amount":55000,"balance":45000,"paidAt":"2026-03-14T09:31:00.000Z","concertTitle":"Spring Night Live","startsAt":"2026-04-01T19:00:00+09:00","seatNo":17})";
const char* kReserved =
    R"({"userId":7,"reservationId":1042,"concertTitle":"Spring Night Live","startsAt":"2026-04-01T19:00:00+09:00","seatNo":17,"price":55000,"confirmedAt":"2026-03-14T09:31:02.400Z"})";
const char* kRefunded =
    R"({"userId":7,"paymentId":501,"reservationId":1042,"amount":55000,"balance":100000,"reason":"HOLD_RELEASED","refundedAt":"2026-03-14T09:36:01.000Z"})";

std::string field(const Message& m, const std::string& name) {
  for (const auto& f : m.fields)
    if (f.name == name) return f.value;
  return "<none>";
}

struct Scripted : Notifier {
  std::string n;
  std::vector<std::optional<SendError>> script;  // per call; nullopt = accept
  int calls = 0;
  explicit Scripted(std::string name, std::vector<std::optional<SendError>> s = {})
      : n(std::move(name)), script(std::move(s)) {}
  [[nodiscard]] std::string name() const override { return n; }
  void send(const Message&) override {
    const auto i = static_cast<std::size_t>(calls++);
    if (i < script.size() && script[i]) throw *script[i];
  }
};

struct MemoryLog : DeliveryLog {
  std::set<std::string> keys;
  bool sent(const std::string& e, const std::string& c) override {
    return keys.count(e + ":" + c) > 0;
  }
  void mark_sent(const std::string& e, const std::string& c) override { keys.insert(e + ":" + c); }
};

EnvReader env_of(std::map<std::string, std::string> vars) {
  return EnvReader([vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace

TEST_CASE("each event type renders in English and Korean") {
  Message p = render(envelope("notifications.payment-completed", kPaid), Language::kEn);
  CHECK(p.user_id == 7);
  CHECK(p.title == "Payment completed");
  CHECK(p.text == "We received your payment of 55,000 points for reservation #1042.");
  CHECK(field(p, "Balance") == "45,000 points");
  CHECK(p.colour == 0x2ECC71);
  CHECK(p.time == "2026-03-14T09:31:00.000Z");

  Message pk = render(envelope("notifications.payment-completed", kPaid), Language::kKo);
  CHECK(pk.title == "결제 완료");
  CHECK(field(pk, "잔액") == "45,000포인트");
  CHECK(field(pk, "공연") == "<none>");

  // With what was paid for (records since 2026-12-05).
  Message ps = render(envelope("notifications.payment-completed", kPaidSeat), Language::kEn);
  CHECK(ps.text == "We received your payment of 55,000 points for seat 17 for Spring Night Live.");
  CHECK(field(ps, "Concert") == "Spring Night Live");
  CHECK(field(ps, "Starts at") == "2026-04-01T19:00:00+09:00");
  CHECK(field(ps, "Seat") == "17");
  CHECK(field(ps, "Paid at") == "2026-03-14T09:31:00.000Z");
  CHECK(field(ps, "Balance") == "45,000 points");
  Message psk = render(envelope("notifications.payment-completed", kPaidSeat), Language::kKo);
  CHECK(psk.text == "Spring Night Live 17번 좌석 결제 55,000포인트가 완료되었습니다.");
  CHECK(field(psk, "좌석") == "17");

  Message r = render(envelope("notifications.reservation-completed", kReserved), Language::kEn);
  CHECK(r.title == "Reservation confirmed");
  CHECK(r.text == "Your seat 17 for Spring Night Live is confirmed.");
  CHECK(field(r, "Starts at") == "2026-04-01T19:00:00+09:00");
  Message rk = render(envelope("notifications.reservation-completed", kReserved), Language::kKo);
  CHECK(rk.text == "Spring Night Live 17번 좌석 예매가 확정되었습니다.");

  Message f = render(envelope("notifications.payment-refunded", kRefunded), Language::kEn);
  CHECK(f.title == "Payment refunded");
  CHECK(f.text ==
        "55,000 points were refunded for reservation #1042 (the seat hold was released).");
  CHECK(field(f, "Balance") == "100,000 points");
  Message fk = render(envelope("notifications.payment-refunded", kRefunded), Language::kKo);
  CHECK(fk.title == "환불 완료");
  CHECK(field(fk, "사유") == "좌석 선점 해제");

  CHECK_THROWS_AS(render(envelope("notifications.unknown", kPaid), Language::kEn), PoisonError);
  CHECK(group_thousands(1234567) == "1,234,567");
  CHECK(group_thousands(999) == "999");
  CHECK(colour_hex(0x2ECC71) == "#2ecc71");
}

TEST_CASE("a buyer's journey: seat held, confirmed, hold expired") {
  const char* held =
      R"({"userId":7,"reservationId":1042,"concertTitle":"Spring Night Live","startsAt":"2026-04-01T19:00:00+09:00","seatNo":17,"price":55000,"heldAt":"2026-03-14T09:30:00.100Z","expiresAt":"2026-03-14T09:35:00.100Z"})";
  Message h = render(envelope("notifications.reservation-completed", held), Language::kEn);
  CHECK(h.user_id == 7);
  CHECK(h.title == "Seat held");
  CHECK(h.text ==
        "Seat 17 for Spring Night Live is held for you. Pay by 2026-03-14T09:35:00.100Z, or the "
        "seat is released.");
  CHECK(field(h, "Pay by") == "2026-03-14T09:35:00.100Z");
  CHECK(field(h, "Price") == "55,000 points");
  CHECK(field(h, "Starts at") == "2026-04-01T19:00:00+09:00");
  CHECK(h.time == "2026-03-14T09:30:00.100Z");
  Message hk = render(envelope("notifications.reservation-completed", held), Language::kKo);
  CHECK(hk.title == "좌석 선점");
  CHECK(field(hk, "결제 기한") == "2026-03-14T09:35:00.100Z");

  const char* confirmed =
      R"({"userId":7,"reservationId":1042,"concertTitle":"Spring Night Live","startsAt":"2026-04-01T19:00:00+09:00","seatNo":17,"price":55000,"confirmedAt":"2026-03-14T09:31:02.400Z"})";
  Message c = render(envelope("notifications.reservation-confirmed", confirmed), Language::kEn);
  CHECK(c.title == "Reservation confirmed");
  CHECK(c.text == "Your seat 17 for Spring Night Live is confirmed.");
  CHECK(field(c, "Price") == "55,000 points");
  CHECK(c.time == "2026-03-14T09:31:02.400Z");

  const char* expired =
      R"({"userId":7,"reservationId":1042,"concertTitle":"Spring Night Live","startsAt":"2026-04-01T19:00:00+09:00","seatNo":17,"expiredAt":"2026-03-14T09:35:01.200Z"})";
  Message e = render(envelope("notifications.hold-expired", expired), Language::kEn);
  CHECK(e.title == "Hold expired");
  CHECK(e.text == "Seat 17 for Spring Night Live was released: it was not paid in time.");
  CHECK(field(e, "Reservation") == "#1042");
  CHECK(e.time == "2026-03-14T09:35:01.200Z");
  const char* admitted =
      R"({"userId":7,"admittedAt":"2026-03-14T09:29:58.000Z","activeUntil":"2026-03-14T09:39:58.000Z"})";
  Message a = render(envelope("notifications.queue-admitted", admitted), Language::kEn);
  CHECK(a.user_id == 7);
  CHECK(a.title == "Your turn");
  CHECK(a.text ==
        "Thanks for waiting: you can book now. Choose a seat by 2026-03-14T09:39:58.000Z.");
  CHECK(field(a, "Book by") == "2026-03-14T09:39:58.000Z");
  CHECK(a.time == "2026-03-14T09:29:58.000Z");
  CHECK(render(envelope("notifications.queue-admitted", admitted), Language::kKo).title ==
        "입장 차례");
  Message ek = render(envelope("notifications.hold-expired", expired), Language::kKo);
  CHECK(ek.title == "선점 만료");
  CHECK(ek.text == "Spring Night Live 17번 좌석은 결제 기한이 지나 해제되었습니다.");
}

TEST_CASE("an expiry batch renders as one operations summary") {
  std::string seats;
  for (int i = 0; i < 45; ++i) {
    seats += std::string(i > 0 ? "," : "") + R"({"reservationId":)" + std::to_string(900 + i) +
             R"(,"seatNo":)" + std::to_string(i + 1) + R"(,"expiresAt":"2026-03-14T09:3)" +
             std::to_string(9 - i % 10) + R"(:00.000Z"})";
  }
  const auto env = envelope("seats.expired", R"({"scheduleId":12,"seats":[)" + seats + "]}");
  CHECK(is_ops_event("seats.expired"));
  CHECK_FALSE(is_ops_event("notifications.payment-completed"));
  Message m = render_ops(env, Language::kEn);
  CHECK(m.user_id == 0);
  CHECK(m.title == "Seat expiry processed");
  CHECK(m.text == "45 unpaid hold(s) of schedule #12 ran out and are being released.");
  CHECK(field(m, "Holds") == "45");
  CHECK(field(m, "Seats").rfind("1, 2, 3, ", 0) == 0);
  CHECK(field(m, "Seats").find(", 40 and 5 more") != std::string::npos);
  CHECK(field(m, "Oldest expiry") == "2026-03-14T09:30:00.000Z");
  CHECK(m.time == env.occurred_at);
  Message k = render_ops(env, Language::kKo);
  CHECK(k.title == "좌석 만료 처리");
  CHECK(field(k, "좌석").find(" 외 5석") != std::string::npos);
  CHECK_THROWS_AS(render_ops(envelope("notifications.payment-completed", kPaid), Language::kEn),
                  PoisonError);
  // The buyers' path has no template for it.
  CHECK_THROWS_AS(render(env, Language::kEn), PoisonError);

  DiscordNotifier ops(std::shared_ptr<http::Client>(), {}, "ops");
  CHECK(ops.name() == "ops");
  rapidjson::Document doc;
  doc.Parse(ops.body(m).c_str());
  REQUIRE(doc.IsObject());
  CHECK(std::string(doc["embeds"][0]["footer"]["text"].GetString()) ==
        "operations · " + m.event_id);
}

TEST_CASE("Discord embed and generic webhook bodies") {
  Message m = render(envelope("notifications.payment-completed", kPaid), Language::kEn);
  auto client = std::shared_ptr<http::Client>();
  DiscordNotifier d(client, {});
  rapidjson::Document doc;
  doc.Parse(d.body(m).c_str());
  REQUIRE(doc.IsObject());
  const auto& e = doc["embeds"][0];
  CHECK(std::string(e["title"].GetString()) == "Payment completed");
  CHECK(e["color"].GetInt() == 0x2ECC71);
  CHECK(e["fields"].Size() == 5);
  CHECK(std::string(e["fields"][0]["name"].GetString()) == "Amount");
  CHECK(e["fields"][0]["inline"].IsBool());
  CHECK(std::string(e["timestamp"].GetString()) == "2026-03-14T09:31:00.000Z");

  WebhookNotifier w(client, {});
  rapidjson::Document g;
  g.Parse(w.body(m).c_str());
  REQUIRE(g.IsObject());
  CHECK(g["userId"].GetInt64() == 7);
  CHECK(std::string(g["colour"].GetString()) == "#2ecc71");
  CHECK(std::string(g["fields"]["Amount"].GetString()) == "55,000 points");
  CHECK(std::string(g["eventId"].GetString()) == m.event_id);
  CHECK(std::string(g["eventType"].GetString()) == "notifications.payment-completed");
}

TEST_CASE("fan-out isolates failures and dedupes per channel") {
  Message m;
  m.event_id = "e1";
  auto a = std::make_shared<Scripted>(
      "a", std::vector<std::optional<SendError>>{SendError("down", true)});
  auto b = std::make_shared<Scripted>("b");
  auto log = std::make_shared<MemoryLog>();
  FanOutNotifier fan({a, b}, log);
  try {
    fan.send(m);
    FAIL("expected a SendError");
  } catch (const SendError& e) {
    CHECK(e.retryable());
  }
  CHECK(a->calls == 1);
  CHECK(b->calls == 1);
  CHECK(log->keys == std::set<std::string>{"e1:b"});
  fan.send(m);  // the redelivery: only the channel that had not accepted
  CHECK(a->calls == 2);
  CHECK(b->calls == 1);
  fan.send(m);  // both done: nothing sent
  CHECK(a->calls == 2);
  CHECK(b->calls == 1);
}

TEST_CASE("fallback tries the secondary only when the primary fails") {
  Message m;
  auto p = std::make_shared<Scripted>(
      "p", std::vector<std::optional<SendError>>{std::nullopt, SendError("400", false, 400),
                                                 SendError("500", true, 500)});
  auto s = std::make_shared<Scripted>(
      "s", std::vector<std::optional<SendError>>{std::nullopt, SendError("x", false)});
  FallbackNotifier f(p, s);
  CHECK(f.name() == "p>s");
  f.send(m);
  CHECK(s->calls == 0);
  f.send(m);
  CHECK(s->calls == 1);
  try {
    f.send(m);
    FAIL("expected a SendError");
  } catch (const SendError& e) {
    CHECK(e.retryable());  // the primary's failure was transient
  }
}

TEST_CASE("channel configuration") {
  {
    auto env = env_of({});
    auto s = read_channel_options(env);
    CHECK_NOTHROW(env.finish());
    CHECK(s.primaries == std::vector<std::string>{"log"});
  }
  {
    auto env = env_of({{"DISCORD_WEBHOOK_URL", "http://x/api/webhooks/1/t"}});
    auto s = read_channel_options(env);
    CHECK_NOTHROW(env.finish());
    CHECK(s.primaries == std::vector<std::string>{"discord"});
    auto n = build_notifier(s, {});
    CHECK(n->name() == "discord");
  }
  {
    auto env = env_of({{"NOTIFY_CHANNELS", "discord, log"}});
    (void)read_channel_options(env);
    CHECK_THROWS_AS(env.finish(), ConfigError);  // DISCORD_WEBHOOK_URL missing
  }
  {
    auto env = env_of({{"NOTIFY_CHANNELS", "sms"}});
    (void)read_channel_options(env);
    CHECK_THROWS_AS(env.finish(), ConfigError);
  }
  {
    auto env = env_of({{"NOTIFY_CHANNELS", "webhook,log"},
                       {"NOTIFY_FALLBACK", "log"},
                       {"WEBHOOK_URL", "http://127.0.0.1:1/webhook"}});
    auto s = read_channel_options(env);
    CHECK_NOTHROW(env.finish());
    auto n = build_notifier(s, {});
    CHECK(n->name() == "webhook>log+log");
  }
  {
    auto env = env_of({{"OPS_DISCORD_WEBHOOK_URL", "ftp://x"}});
    (void)read_channel_options(env);
    CHECK_THROWS_AS(env.finish(), ConfigError);
  }
  {
    auto env = env_of({});
    auto s = read_channel_options(env);
    auto ops = build_ops_notifier(s, {});  // no operations webhook: the log
    REQUIRE(ops != nullptr);
    CHECK(ops->name() == "log");
  }
  {
    auto env = env_of({{"OPS_DISCORD_WEBHOOK_URL", "http://127.0.0.1:1/api/webhooks/9/t"}});
    auto s = read_channel_options(env);
    CHECK_NOTHROW(env.finish());
    auto ops = build_ops_notifier(s, {});
    REQUIRE(ops != nullptr);
    CHECK(ops->name() == "ops");
    CHECK(s.primaries == std::vector<std::string>{"log"});  // the buyers' channels are apart
  }
  CHECK(parse_retry_after("2") == std::chrono::milliseconds(2000));
  CHECK(!parse_retry_after(""));
}

TEST_CASE("service configuration: defaults, every variable read, problems reported together") {
  {
    auto env = env_of({});
    auto c = Config::read(env);
    CHECK_NOTHROW(env.finish());
    CHECK(c.language == Language::kEn);
    CHECK(c.redis_prefix == "notify:");
    CHECK(c.handling.retry.max_infra_attempts == 0);  // an outage is waited out
  }
  {
    auto env = env_of({{"NOTIFY_LANGUAGE", "ko"},
                       {"REDIS_PREFIX", "n2:"},
                       {"NOTIFY_DEDUPE_TTL_S", "60"},
                       {"NOTIFY_MAX_ATTEMPTS", "4"},
                       {"NOTIFY_BACKOFF_INITIAL_MS", "10"},
                       {"NOTIFY_BACKOFF_MAX_MS", "20"}});
    auto c = Config::read(env);
    CHECK_NOTHROW(env.finish());
    CHECK(c.language == Language::kKo);
    CHECK(c.redis_prefix == "n2:");
    CHECK(c.dedupe_ttl == std::chrono::seconds(60));
    CHECK(c.handling.retry.max_infra_attempts == 4);
    CHECK(c.handling.retry.initial_backoff == std::chrono::milliseconds(10));
    CHECK(c.handling.retry.max_backoff == std::chrono::milliseconds(20));
  }
  {
    auto env = env_of({{"NOTIFY_LANGUAGE", "fr"}, {"NOTIFY_CHANNELS", "sms"}});
    (void)Config::read(env);
    try {
      env.finish();
      FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      CHECK(what.find("NOTIFY_LANGUAGE") != std::string::npos);
      CHECK(what.find("NOTIFY_CHANNELS") != std::string::npos);
    }
  }
}
