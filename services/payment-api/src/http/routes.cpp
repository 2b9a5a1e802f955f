#include "http/routes.hpp"

#include <charconv>
#include <chrono>
#include <memory>
#include <variant>

#include "events/payment_events.hpp"
#include "http/outcomes.hpp"
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
using service::Checked;
using service::with;

// payment_api_requests_total{op, result}: result is the error code or "ok".
void count(std::string_view op, std::string_view result) {
  metrics::global()
      .counter("payment_api_requests_total", "Charges and payments by result",
               {{"op", std::string(op)}, {"result", std::string(result)}})
      .inc();
}

// The caller, or the 401 to answer.
Checked<UserId> authenticate(const Request& req, const service::QueueTokenAuth& tokens) {
  auto r = tokens.authenticate(req);
  if (auto* failure = std::get_if<service::AuthFailure>(&r)) return answer(*failure);
  return UserId{std::get<auth::TokenClaims>(r).user_id};
}

// Idempotency-Key header: absent (nullopt), valid, or the 400 to answer.
Checked<std::optional<std::string>> idempotency_key(const Request& req) {
  auto key = req.header("idempotency-key");
  if (!key) return std::optional<std::string>{};
  if (!valid_idempotency_key(*key)) return answer(ApiError::kInvalidIdempotencyKey);
  return std::optional<std::string>{std::string(*key)};
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

std::string history_json(UserId user, const std::vector<HistoryEntry>& entries,
                         std::int64_t limit) {
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
  return w.str();
}

// POST /v1/payments once the request is read.
Response pay(Store& store, outbox::Relay& relay, const auth::HoldReceipts& receipts,
             const Request& req, UserId user, ReservationId reservation,
             const std::optional<std::string>& receipt_text,
             const std::optional<std::string>& key) {
  // The hold's receipt from reservation-api stands in for reservation.held
  // when that event has not arrived yet: nothing waits for it.
  std::optional<auth::HoldClaims> receipt;
  if (receipt_text) {
    receipt = receipts.verify(*receipt_text);
    if (!receipt || receipt->reservation_id != reservation.value ||
        receipt->user_id != user.value) {
      count("payment", describe(ApiError::kInvalidHoldReceipt).code);
      return answer(ApiError::kInvalidHoldReceipt);
    }
  }

  std::optional<IdempotentRequest> idem;
  if (key) {
    idem = IdempotentRequest{*key, "payment:" + std::to_string(reservation.value)};
    bool conflict = false;
    if (auto stored = store.find_idempotent(user, "payment", *idem, &conflict))
      return replayed(*stored);
    if (conflict) return answer(Outcome::kIdempotencyConflict);
  }

  auto trace = trace_of(req);
  auto result = store.pay(
      user, reservation, receipt, now_unix_millis(), idem,
      [&](const PaymentRecord& p, std::int64_t balance, const PaidSeat& seat) {
        return payment_completed_rows(p, balance, seat, trace);
      },
      [&](const PaymentRecord& p) {
        return StoredResponse{201, payment_json(p)};
      });
  if (result.replay) {
    count("payment", "replayed");
    return replayed(*result.replay);
  }
  count("payment", result.outcome == Outcome::kOk ? "ok" : describe(result.outcome).code);
  if (result.outcome != Outcome::kOk) return answer(result.outcome);
  relay.notify();
  return Response::json(201, payment_json(result.payment));
}

}  // namespace

void add_routes(http::Router& router, Store& store, const Config& config,
                const service::QueueTokenAuth& tokens, outbox::Relay& relay,
                const service::ReadyGate& ready) {
  // Every route answers the gate's 503 until the schema exists, then
  // authenticates its caller before anything else.
  auto add = [&router, &ready, &tokens](std::string method, std::string pattern,
                                        std::function<Response(const Request&, UserId)> route) {
    router.add(std::move(method), std::move(pattern),
               ready.guard([&tokens, route = std::move(route)](const Request& req) {
                 return with(authenticate(req, tokens),
                             [&](UserId user) { return route(req, user); });
               }));
  };
  auto receipts = std::make_shared<const auth::HoldReceipts>(config.token_secret);

  add("GET", "/v1/points", [&](const Request&, UserId user) {
    return Response::json(200, balance_json(user, store.balance(user)));
  });

  add("POST", "/v1/points/charge", [&](const Request& req, UserId user) {
    return with(idempotency_key(req), [&](const std::optional<std::string>& key) {
      return with(http::JsonBody::parse(req), [&](http::JsonBody& body) {
        auto amount = body.int64("amount", 1, config.max_charge);
        if (auto err = body.error()) return *err;

        std::optional<IdempotentRequest> idem;
        if (key) idem = IdempotentRequest{*key, "charge:" + std::to_string(*amount)};
        auto result =
            store.charge(user, *amount, config.max_balance, idem, [&](std::int64_t balance) {
              return StoredResponse{200, balance_json(user, balance)};
            });
        if (result.replay) {
          count("charge", "replayed");
          return replayed(*result.replay);
        }
        count("charge", result.outcome == Outcome::kOk ? "ok" : describe(result.outcome).code);
        if (result.outcome != Outcome::kOk) return answer(result.outcome);
        return Response::json(200, balance_json(user, result.balance));
      });
    });
  });

  add("GET", "/v1/points/history", [&](const Request& req, UserId user) {
    std::int64_t limit = 20;
    std::optional<std::int64_t> before;
    if (auto l = req.query_param("limit")) {
      auto v = parse_int(*l);
      if (!v || *v < 1 || *v > 100) return invalid("limit", "must be between 1 and 100");
      limit = *v;
    }
    if (auto b = req.query_param("before")) {
      before = parse_int(*b);
      if (!before || *before < 1) return invalid("before", "must be a positive integer");
    }
    return Response::json(
        200, history_json(user, store.history(user, before, static_cast<int>(limit)), limit));
  });

  add("POST", "/v1/payments", [&, receipts](const Request& req, UserId user) {
    return with(idempotency_key(req), [&](const std::optional<std::string>& key) {
      return with(http::JsonBody::parse(req), [&](http::JsonBody& body) {
        auto rid = body.int64("reservationId", 1, INT64_MAX);
        std::optional<std::string> receipt_text;
        if (body.has("holdReceipt")) receipt_text = body.string("holdReceipt", 256);
        if (auto err = body.error()) return *err;
        return pay(store, relay, *receipts, req, user, ReservationId{*rid}, receipt_text, key);
      });
    });
  });

  add("GET", "/v1/payments/{id}", [&](const Request& req, UserId user) {
    auto id = parse_int(req.params.at("id"));
    if (!id || *id < 1) return invalid("id", "must be a positive integer");
    auto p = store.payment(PaymentId{*id});
    if (!p || p->user != user) return answer(Outcome::kPaymentNotFound);
    return Response::json(200, payment_json(*p));
  });
}

}  // namespace ticketing::payment
