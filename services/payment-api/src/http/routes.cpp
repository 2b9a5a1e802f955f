#include "http/routes.hpp"

#include <charconv>
#include <chrono>
#include <memory>
#include <variant>

#include "events/payment_events.hpp"
#include "ticketing/auth/hold_receipt.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/outbox/relay.hpp"

namespace ticketing::payment {

namespace {

using http::Request;
using http::Response;

// payment_api_requests_total{op, result}: result is the error code or "ok".
void count(std::string_view op, std::string_view result) {
  metrics::global()
      .counter("payment_api_requests_total", "Charges and payments by result",
               {{"op", std::string(op)}, {"result", std::string(result)}})
      .inc();
}

Response outcome_error(Outcome o) {
  auto info = describe(o);
  return Response::error(info.status, info.code, info.message);
}

// The caller, or the 401 to answer.
std::variant<UserId, Response> authenticate(const Request& req, const auth::TokenSigner& signer) {
  auto token = auth::bearer_token(req.header("authorization"));
  if (!token) return Response::error(401, "UNAUTHORIZED", "missing bearer token");
  auto verified = signer.verify(*token);
  if (auto* err = std::get_if<auth::TokenError>(&verified))
    return Response::error(401, "UNAUTHORIZED",
                           std::string("invalid token: ") + std::string(auth::to_string(*err)));
  return UserId{std::get<auth::TokenClaims>(verified).user_id};
}

// Idempotency-Key header: absent, valid, or the 400 to answer.
std::variant<std::monostate, std::string, Response> idempotency_key(const Request& req) {
  auto key = req.header("idempotency-key");
  if (!key) return std::monostate{};
  if (!valid_idempotency_key(*key))
    return Response::error(400, "INVALID_IDEMPOTENCY_KEY",
                           "Idempotency-Key must be 1..255 printable ASCII characters");
  return std::string(*key);
}

std::string trace_of(const Request& req) {
  auto tp = req.header("traceparent");
  return tp ? events::trace_id_from_traceparent(*tp) : std::string();
}

std::string rfc3339_ms(std::int64_t ms) {
  return to_rfc3339(SystemTime(std::chrono::milliseconds(ms)));
}

std::string payment_json(const PaymentRecord& p) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("paymentId")
      .integer(p.id.value)
      .key("reservationId")
      .integer(p.reservation.value)
      .key("amount")
      .integer(p.amount)
      .key("status")
      .string(to_string(p.status))
      .key("paidAt")
      .string(rfc3339_ms(p.paid_at_ms));
  if (p.refunded_at_ms) w.key("refundedAt").string(rfc3339_ms(*p.refunded_at_ms));
  w.end_object();
  return w.str();
}

std::string balance_json(UserId user, std::int64_t balance) {
  ticketing::JsonWriter w;
  w.start_object().key("userId").integer(user.value).key("balance").integer(balance).end_object();
  return w.str();
}

Response replayed(const StoredResponse& s) {
  auto r = Response::json(s.status, s.body);
  r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

void add_routes(http::Router& outer, Store& store, const PaymentConfig& config,
                const auth::TokenSigner& signer, outbox::Relay& relay,
                std::function<bool()> ready) {
  // Every route answers 503 until the schema exists.
  struct Gate {
    http::Router& router;
    std::function<bool()> ready;
    void add(std::string method, std::string pattern, http::Handler handler) {
      router.add(std::move(method), std::move(pattern),
                 [is_ready = ready, h = std::move(handler)](const Request& req) {
                   if (!is_ready()) {
                     auto r = Response::error(503, "DEPENDENCY_UNAVAILABLE",
                                              "database schema not ready yet");
                     r.headers.emplace_back("Retry-After", "1");
                     return r;
                   }
                   return h(req);
                 });
    }
  } router{outer, std::move(ready)};
  auto receipts = std::make_shared<const auth::HoldReceipts>(config.token_secret);

  router.add("GET", "/v1/points", [&](const Request& req) {
    auto who = authenticate(req, signer);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    auto user = std::get<UserId>(who);
    return Response::json(200, balance_json(user, store.balance(user)));
  });

  router.add("POST", "/v1/points/charge", [&](const Request& req) {
    auto who = authenticate(req, signer);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    auto user = std::get<UserId>(who);
    auto key = idempotency_key(req);
    if (auto* r = std::get_if<Response>(&key)) return *r;
    auto parsed = http::JsonBody::parse(req);
    if (auto* r = std::get_if<Response>(&parsed)) return *r;
    auto& body = std::get<http::JsonBody>(parsed);
    auto amount = body.int64("amount", 1, config.max_charge);
    if (auto err = body.error()) return *err;

    std::optional<IdempotentRequest> idem;
    if (auto* k = std::get_if<std::string>(&key))
      idem = IdempotentRequest{*k, "charge:" + std::to_string(*amount)};
    auto result = store.charge(user, *amount, config.max_balance, idem, [&](std::int64_t balance) {
      return StoredResponse{200, balance_json(user, balance)};
    });
    if (result.replay) {
      count("charge", "replayed");
      return replayed(*result.replay);
    }
    count("charge", result.outcome == Outcome::kOk ? "ok" : describe(result.outcome).code);
    if (result.outcome != Outcome::kOk) return outcome_error(result.outcome);
    return Response::json(200, balance_json(user, result.balance));
  });

  router.add("GET", "/v1/points/history", [&](const Request& req) {
    auto who = authenticate(req, signer);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    auto user = std::get<UserId>(who);
    std::int64_t limit = 20;
    std::optional<std::int64_t> before;
    if (auto l = req.query_param("limit")) {
      auto v = parse_int(*l);
      if (!v || *v < 1 || *v > 100)
        return Response::error(400, "VALIDATION_FAILED", "limit: must be between 1 and 100");
      limit = *v;
    }
    if (auto b = req.query_param("before")) {
      before = parse_int(*b);
      if (!before || *before < 1)
        return Response::error(400, "VALIDATION_FAILED", "before: must be a positive integer");
    }
    auto entries = store.history(user, before, static_cast<int>(limit));
    ticketing::JsonWriter w;
    w.start_object().key("userId").integer(user.value).key("items").start_array();
    for (const auto& e : entries) {
      w.start_object()
          .key("id")
          .integer(e.id)
          .key("kind")
          .string(e.kind)
          .key("amount")
          .integer(e.amount)
          .key("balanceAfter")
          .integer(e.balance_after)
          .key("paymentId");
      if (e.payment_id)
        w.integer(*e.payment_id);
      else
        w.null();
      w.key("createdAt").string(rfc3339_ms(e.created_at_ms)).end_object();
    }
    w.end_array().key("nextBefore");
    // A full page may have more behind it: the client asks again with before=<last id>.
    if (static_cast<std::int64_t>(entries.size()) == limit)
      w.integer(entries.back().id);
    else
      w.null();
    w.end_object();
    return Response::json(200, w.str());
  });

  router.add("POST", "/v1/payments", [&, receipts](const Request& req) {
    auto who = authenticate(req, signer);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    auto user = std::get<UserId>(who);
    auto key = idempotency_key(req);
    if (auto* r = std::get_if<Response>(&key)) return *r;
    auto parsed = http::JsonBody::parse(req);
    if (auto* r = std::get_if<Response>(&parsed)) return *r;
    auto& body = std::get<http::JsonBody>(parsed);
    auto rid = body.int64("reservationId", 1, INT64_MAX);
    std::optional<std::string> receipt_text;
    if (body.has("holdReceipt")) receipt_text = body.string("holdReceipt", 256);
    if (auto err = body.error()) return *err;
    ReservationId reservation{*rid};
    // The hold's receipt from reservation-api stands in for reservation.held
    // when that event has not arrived yet: nothing waits for it.
    std::optional<auth::HoldClaims> receipt;
    if (receipt_text) {
      receipt = receipts->verify(*receipt_text);
      if (!receipt || receipt->reservation_id != reservation.value ||
          receipt->user_id != user.value) {
        count("payment", "INVALID_HOLD_RECEIPT");
        return Response::error(400, "INVALID_HOLD_RECEIPT",
                               "holdReceipt: not a receipt of this reservation's hold for you");
      }
    }

    std::optional<IdempotentRequest> idem;
    if (auto* k = std::get_if<std::string>(&key)) {
      idem = IdempotentRequest{*k, "payment:" + std::to_string(reservation.value)};
      bool conflict = false;
      if (auto stored = store.find_idempotent(user, "payment", *idem, &conflict))
        return replayed(*stored);
      if (conflict) return outcome_error(Outcome::kIdempotencyConflict);
    }

    auto trace = trace_of(req);
    auto result = store.pay(
        user, reservation, receipt, now_unix_millis(), idem,
        [&](const PaymentRecord& p, std::int64_t balance) {
          return payment_completed_rows(p, balance, trace);
        },
        [&](const PaymentRecord& p) {
          return StoredResponse{201, payment_json(p)};
        });
    if (result.replay) {
      count("payment", "replayed");
      return replayed(*result.replay);
    }
    count("payment", result.outcome == Outcome::kOk ? "ok" : describe(result.outcome).code);
    if (result.outcome != Outcome::kOk) return outcome_error(result.outcome);
    relay.notify();
    return Response::json(201, payment_json(result.payment));
  });

  router.add("GET", "/v1/payments/{id}", [&](const Request& req) {
    auto who = authenticate(req, signer);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    auto user = std::get<UserId>(who);
    auto id = parse_int(req.params.at("id"));
    if (!id || *id < 1)
      return Response::error(400, "VALIDATION_FAILED", "id: must be a positive integer");
    auto p = store.payment(PaymentId{*id});
    if (!p || p->user != user) return outcome_error(Outcome::kPaymentNotFound);
    return Response::json(200, payment_json(*p));
  });
}

}  // namespace ticketing::payment
