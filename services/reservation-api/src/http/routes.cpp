#include "http/routes.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>

#include "http/outcomes.hpp"
#include "store/catalogue_cache.hpp"
#include "store/queue_store.hpp"
#include "store/queue_watch.hpp"
#include "store/reservation_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::reservation {

using http::Request;
using http::Response;
using service::Checked;
using service::with;

namespace {

constexpr std::int64_t kMaxId = std::numeric_limits<std::int64_t>::max();

std::optional<std::int64_t> parse_id(const Request& req, const char* name) {
  auto it = req.params.find(name);
  if (it == req.params.end()) return std::nullopt;
  const auto& s = it->second;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v < 1) return std::nullopt;
  return v;
}

std::string trace_of(const Request& req) {
  auto tp = req.header("traceparent");
  if (tp) {
    auto id = events::trace_id_from_traceparent(*tp);
    if (events::is_valid_trace_id(id)) return id;
  }
  return new_trace_id();
}

const char* state_name(QueueState s) {
  switch (s) {
    case QueueState::kWaiting:
      return "WAITING";
    case QueueState::kActive:
      return "ACTIVE";
    case QueueState::kExpired:
      return "EXPIRED";
  }
  return "EXPIRED";
}

metrics::Counter& hold_counter(const char* outcome) {
  return metrics::global().counter("reservation_holds_total", "Hold attempts by outcome",
                                   {{"outcome", outcome}});
}

// Looked up once: a registry lookup builds label maps under its lock. A hold
// for a schedule that does not exist is not counted.
void count_hold(HoldOutcome outcome) {
  static metrics::Counter& held = hold_counter("held");
  static metrics::Counter& unavailable = hold_counter("seat_unavailable");
  static metrics::Counter& limit = hold_counter("hold_limit");
  switch (outcome) {
    case HoldOutcome::kHeld:
      held.inc();
      break;
    case HoldOutcome::kSeatUnavailable:
      unavailable.inc();
      break;
    case HoldOutcome::kHoldLimit:
      limit.inc();
      break;
    case HoldOutcome::kScheduleNotFound:
      break;
  }
}

// A HELD reservation that can still be paid (before expiresAt) carries its
// signed holdReceipt: payment-api accepts it in place of the reservation.held
// event that may still be on its way.
Response reservation_json(int status, const ReservationView& r,
                          const auth::HoldReceipts& receipts) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(r.id)
      .key("scheduleId")
      .integer(r.schedule_id)
      .key("seatNo")
      .integer(r.seat_no)
      .key("price")
      .integer(r.price)
      .key("status")
      .string(to_string(r.status))
      .key("heldAt")
      .string(r.held_at)
      .key("expiresAt")
      .string(r.expires_at);
  if (r.confirmed_at) w.key("confirmedAt").string(*r.confirmed_at);
  if (r.status == ReservationStatus::kHeld) {
    if (auto expires = parse_rfc3339(r.expires_at);
        expires && now_unix_millis() < unix_millis(*expires)) {
      w.key("holdReceipt")
          .string(receipts.sign(
              {r.id, r.user_id, r.schedule_id, r.seat_no, r.price, unix_millis(*expires)}));
    }
  }
  w.end_object();
  return Response::json(status, w.str());
}

Response queue_json(int status, const std::string& token, std::int64_t user_id,
                    const QueueStatus& st, double seconds_per_place) {
  auto wait = st.state == QueueState::kWaiting
                  ? static_cast<std::int64_t>(
                        std::ceil(static_cast<double>(st.position) * seconds_per_place))
                  : 0;
  ticketing::JsonWriter w;
  w.start_object()
      .key("token")
      .string(token)
      .key("userId")
      .integer(user_id)
      .key("status")
      .string(state_name(st.state))
      .key("position")
      .integer(st.position)
      .key("estimatedWaitSeconds")
      .integer(wait)
      .end_object();
  return Response::json(status, w.str());
}

// A whole number in [min, max] from the query, or nullopt when absent;
// a 400 VALIDATION_FAILED naming the parameter when malformed.
Checked<std::optional<std::int64_t>> query_integer(const Request& req, const char* name,
                                                   std::int64_t min, std::int64_t max) {
  auto raw = req.query_param(name);
  if (!raw) return std::optional<std::int64_t>{};
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
  if (ec != std::errc{} || ptr != raw->data() + raw->size() || v < min || v > max) {
    return Response::error(400, "VALIDATION_FAILED",
                           std::string(name) + " must be a whole number from " +
                               std::to_string(min) + " to " + std::to_string(max));
  }
  return std::optional<std::int64_t>{v};
}

class Api {
 public:
  explicit Api(const ApiDeps& d) : d_(d) {}

  // --- preconditions -------------------------------------------------------
  // The caller's queue token (any queue state).
  Checked<auth::TokenClaims> authenticated(const Request& req) const {
    auto r = d_.tokens.authenticate(req);
    if (auto* failure = std::get_if<service::AuthFailure>(&r)) return answer(*failure);
    return std::get<auth::TokenClaims>(r);
  }

  // An ACTIVE queue place is needed for the catalogue and holds; an ACTIVE
  // answer of the last QUEUE_STATE_CACHE_MS is reused (WAITING never is).
  Checked<auth::TokenClaims> active(const Request& req) const {
    auto checked = authenticated(req);
    const auto* claims = std::get_if<auth::TokenClaims>(&checked);
    if (claims == nullptr) return checked;
    auto cached = d_.queue.peek_cached(claims->token_id);
    auto st = cached ? *cached : d_.queue.peek(claims->token_id);
    if (st.state == QueueState::kExpired || st.user_id != claims->user_id) {
      return answer(ApiError::kTokenLapsed);
    }
    if (st.state == QueueState::kWaiting) return answer(ApiError::kQueueNotActive);
    return checked;
  }

  // --- queue -------------------------------------------------------------
  // A place frees up on average every active_ttl / max_active seconds.
  [[nodiscard]] double seconds_per_place() const {
    return static_cast<double>(d_.config.queue_active_ttl.count()) /
           static_cast<double>(std::max<std::int64_t>(1, d_.config.queue_max_active));
  }

  // The caller proves who they are with the identity provider's ID token;
  // the user is its "sub" (no body field names a user, so nobody can ask for
  // another user's place).
  Checked<std::int64_t> identify(const Request& req) const {
    auto token = auth::bearer_token(req.header("authorization"));
    if (!token) return answer(ApiError::kIdTokenMissing);
    auto verified = d_.id_tokens.verify(*token);
    if (auto* claims = std::get_if<auth::IdTokenClaims>(&verified)) return claims->user_id;
    return answer(std::get<auth::IdTokenError>(verified));
  }

  static std::string user_subject(std::int64_t user) { return "user:" + std::to_string(user); }

  // The user's and the client address's limits, in one Redis round trip.
  std::optional<Response> throttled(const std::optional<redis::RateLimit>& per_user,
                                    const std::optional<redis::RateLimit>& per_client,
                                    std::int64_t user, const Request& req) const {
    return d_.throttle.admit(service::Throttle::Checks{}
                                 .add(per_user, user_subject(user))
                                 .add(per_client, client_subject(per_client, req)));
  }

  // "ip:<client address>", worked out only when the limit is on.
  std::string client_subject(const std::optional<redis::RateLimit>& limit,
                             const Request& req) const {
    return limit ? "ip:" + d_.config.trusted_proxies.client_of(req) : std::string();
  }

  Response issue_token(const Request& req) const {
    // Per client first: a flood of made-up ID tokens costs a signature check each.
    if (auto r = d_.throttle.admit(service::Throttle::Checks{}.add(
            d_.config.limits.token_client, client_subject(d_.config.limits.token_client, req))))
      return *r;
    return with(identify(req), [&](std::int64_t user) { return enter_queue(user); });
  }

  Response enter_queue(std::int64_t user) const {
    if (auto r = d_.throttle.admit(
            service::Throttle::Checks{}.add(d_.config.limits.token_user, user_subject(user))))
      return *r;
    auth::TokenClaims claims;
    auto fresh = d_.signer.issue(user, &claims);
    auto entered = d_.queue.enter(user, claims.token_id, fresh);
    if (entered.full) return answer(ApiError::kQueueFull);
    auto token = entered.created ? fresh : entered.token;
    // The enter script reports the place itself: no status round trip.
    return queue_json(entered.created ? 201 : 200, token, user, entered.status,
                      seconds_per_place());
  }

  // GET /v1/queue/status[?waitSeconds=N[&position=P]]. Without waitSeconds
  // (or 0) the live place at once. With it, a long poll: answered once the
  // position is below P (default: the current one, i.e. on any move), the
  // place is ACTIVE or ended, or N seconds have passed (QueueWatch), without
  // holding a handler thread meanwhile.
  std::optional<Response> queue_status(const Request& req, const http::Later& later) const {
    auto checked = authenticated(req);
    if (auto* refused = std::get_if<Response>(&checked)) return std::move(*refused);
    const auto& claims = std::get<auth::TokenClaims>(checked);
    if (auto r = throttled(d_.config.limits.status_user, d_.config.limits.status_client,
                           claims.user_id, req))
      return *r;
    // Up to 300 accepted; longer than QUEUE_LONG_POLL_MAX_SECONDS is shortened to it.
    auto wait = query_integer(req, "waitSeconds", 0, 300);
    if (auto* bad = std::get_if<Response>(&wait)) return std::move(*bad);
    auto below = query_integer(req, "position", 1, std::numeric_limits<std::int64_t>::max());
    if (auto* bad = std::get_if<Response>(&below)) return std::move(*bad);

    auto st = d_.queue.status(claims.token_id);
    if (st.state == QueueState::kExpired || st.user_id != claims.user_id) {
      return answer(ApiError::kTokenLapsed);
    }
    std::string token(*auth::bearer_token(req.header("authorization")));
    const auto seconds = std::min(std::get<std::optional<std::int64_t>>(wait).value_or(0),
                                  static_cast<std::int64_t>(d_.config.queue_long_poll_max.count()));
    const auto position = std::get<std::optional<std::int64_t>>(below).value_or(st.position);
    if (seconds == 0 || st.state != QueueState::kWaiting || st.position < position) {
      return queue_json(200, token, claims.user_id, st, seconds_per_place());
    }
    auto user = claims.user_id;
    auto per_place = seconds_per_place();
    bool parked = d_.watch.park(QueueWatch::Waiter{
        claims.token_id, position, st,
        std::chrono::steady_clock::now() + std::chrono::seconds(seconds),
        [later, token, user, per_place](const std::optional<QueueStatus>& now) {
          if (!now) {
            later.answer(Response::dependency_unavailable());
          } else if (now->state == QueueState::kExpired || now->user_id != user) {
            later.answer(answer(ApiError::kTokenLapsed));
          } else {
            later.answer(queue_json(200, token, user, *now, per_place));
          }
        }});
    // Too many parked already: the place as it is now; the client asks again.
    if (!parked) return queue_json(200, token, claims.user_id, st, per_place);
    return std::nullopt;
  }

  // An ACTIVE caller and the path's {id} (400 naming `what` when malformed).
  Checked<std::int64_t> active_and_id(const Request& req, const char* what) const {
    auto checked = active(req);
    if (auto* answer = std::get_if<Response>(&checked)) return std::move(*answer);
    auto id = parse_id(req, "id");
    if (!id) return bad_id(what);
    return *id;
  }

  // A reservation's owner (any queue state) and its {id}.
  struct Owned {
    UserId owner;
    ReservationId id;
  };
  Checked<Owned> owner_and_id(const Request& req) const {
    auto checked = authenticated(req);
    auto* claims = std::get_if<auth::TokenClaims>(&checked);
    if (claims == nullptr) return std::get<Response>(std::move(checked));
    auto id = parse_id(req, "id");
    if (!id) return bad_id("reservation id");
    return Owned{UserId{claims->user_id}, ReservationId{*id}};
  }

  // --- catalogue: checked by active() / active_and_id(), behind the gate ---
  Response concert_list() const {
    auto body =
        d_.cache.get_or_load(CatalogueCache::concerts_key(), [&]() -> std::optional<std::string> {
          ticketing::JsonWriter w;
          w.start_object().key("concerts").start_array();
          for (const auto& c : d_.store.concerts()) {
            w.start_object()
                .key("id")
                .integer(c.id)
                .key("title")
                .string(c.title)
                .key("venue")
                .string(c.venue)
                .end_object();
          }
          w.end_array().end_object();
          return w.str();
        });
    return shared_json(body);
  }

  Response schedule_list(std::int64_t id) const {
    auto body = d_.cache.get_or_load(
        CatalogueCache::schedules_key(id), [&]() -> std::optional<std::string> {
          auto list = d_.store.schedules(ConcertId{id});
          if (!list) return std::nullopt;
          ticketing::JsonWriter w;
          w.start_object().key("concertId").integer(id).key("schedules").start_array();
          for (const auto& s : *list) {
            w.start_object()
                .key("id")
                .integer(s.id)
                .key("concertId")
                .integer(s.concert_id)
                .key("startsAt")
                .string(s.starts_at)
                .key("availableSeats")
                .integer(s.available_seats)
                .end_object();
          }
          w.end_array().end_object();
          return w.str();
        });
    if (!body) return answer(ApiError::kConcertNotFound);
    return shared_json(body);
  }

  Response seat_map(std::int64_t id) const {
    auto body =
        d_.cache.get_or_load(CatalogueCache::seats_key(id), [&]() -> std::optional<std::string> {
          auto list = d_.store.seats(ScheduleId{id});
          if (!list) return std::nullopt;
          ticketing::JsonWriter w;
          w.start_object().key("scheduleId").integer(id).key("seats").start_array();
          for (const auto& s : *list) {
            w.start_object()
                .key("seatNo")
                .integer(s.seat_no)
                .key("status")
                .string(to_string(s.status))
                .key("price")
                .integer(s.price)
                .end_object();
          }
          w.end_array().end_object();
          return w.str();
        });
    if (!body) return answer(ApiError::kScheduleNotFound);
    return shared_json(body);
  }

  static Response shared_json(CatalogueCache::Body body) {
    Response r;
    r.status = 200;
    r.shared_body = std::move(body);
    return r;
  }

  // Inline fast path of the catalogue reads (run on the I/O thread): answers
  // only a 200 from the in-process cache for a token known to be ACTIVE;
  // anything else (miss, error, unknown token) goes to the handler pool.
  std::optional<Response> cached_read(const Request& req, const std::string& key) const {
    if (!d_.ready.is_open()) return std::nullopt;
    auto token = auth::bearer_token(req.header("authorization"));
    if (!token) return std::nullopt;
    auto claims = d_.tokens.known(*token);
    if (!claims) return std::nullopt;
    auto st = d_.queue.peek_cached(claims->token_id);
    if (!st || st->user_id != claims->user_id) return std::nullopt;
    auto body = d_.cache.peek_local(key);
    if (!body) return std::nullopt;
    return shared_json(std::move(body));
  }
  std::optional<Response> concerts_fast(const Request& req) const {
    return cached_read(req, CatalogueCache::concerts_key());
  }
  std::optional<Response> schedules_fast(const Request& req) const {
    auto id = parse_id(req, "id");
    if (!id) return std::nullopt;
    return cached_read(req, CatalogueCache::schedules_key(*id));
  }
  std::optional<Response> seats_fast(const Request& req) const {
    auto id = parse_id(req, "id");
    if (!id) return std::nullopt;
    return cached_read(req, CatalogueCache::seats_key(*id));
  }

  // --- reservations ----------------------------------------------------------
  struct HoldRequest {
    auth::TokenClaims claims;
    ScheduleId schedule;
    SeatNo seat;
  };
  // In this order: a body that is no JSON object, the caller (ACTIVE), its
  // hold rate limits, then the body's fields.
  Checked<HoldRequest> hold_request(const Request& req) const {
    auto parsed = http::JsonBody::parse(req);
    if (auto* r = std::get_if<Response>(&parsed)) return std::move(*r);
    auto& body = std::get<http::JsonBody>(parsed);
    auto schedule = body.int64("scheduleId", 1, kMaxId);
    auto seat = body.int64("seatNo", 1, kSeatsPerSchedule);
    auto checked = active(req);
    auto* claims = std::get_if<auth::TokenClaims>(&checked);
    if (claims == nullptr) return std::get<Response>(std::move(checked));
    if (auto r = throttled(d_.config.limits.hold_user, d_.config.limits.hold_client,
                           claims->user_id, req))
      return std::move(*r);
    if (auto err = body.error()) return std::move(*err);
    return HoldRequest{*claims, ScheduleId{*schedule}, SeatNo{static_cast<int>(*seat)}};
  }

  Response hold_seat(const Request& req, const HoldRequest& hold) const {
    const auto& claims = hold.claims;
    // After the commit, one Redis round trip: the catalogue invalidation and
    // the refresh of the token's lapse deadline (touch).
    auto after_commit = [&](std::int64_t schedule_id) {
      auto replies =
          d_.cache.invalidate_schedule(schedule_id, {d_.queue.touch_command(claims.token_id)});
      try {
        d_.queue.touched(claims.token_id, replies.empty() ? nullptr : &replies.front());
      } catch (const InfraError& e) {
        log::warn("queue touch failed", {{"error", e.what()}});
      }
    };
    auto result =
        d_.store.hold(UserId{claims.user_id}, hold.schedule, hold.seat, d_.config.hold_ttl,
                      d_.config.max_holds_per_user, trace_of(req), after_commit);
    count_hold(result.outcome);
    if (result.outcome != HoldOutcome::kHeld) return answer(result.outcome);
    return reservation_json(201, result.reservation, d_.receipts);
  }

  Response get_reservation(const Owned& r) const {
    auto found = d_.store.find(r.id, r.owner);
    if (!found) return answer(ApiError::kReservationNotFound);
    return reservation_json(200, *found, d_.receipts);
  }

  Response cancel(const Request& req, const Owned& r) const {
    auto [outcome, view] = d_.store.cancel(r.id, r.owner, trace_of(req));
    if (outcome != CancelOutcome::kCancelled) return answer(outcome);
    return reservation_json(200, *view, d_.receipts);
  }

 private:
  ApiDeps d_;
};

}  // namespace

void add_routes(http::Router& router, const ApiDeps& deps) {
  auto api = std::make_shared<Api>(deps);
  const auto& gate = deps.ready;
  // The queue needs only Redis: served while the schema is being migrated.
  // On a lane of their own (QUEUE_HTTP_THREADS): the flood of queue tokens
  // at the open cannot take the handler threads that holds need.
  const http::Lane queue_lane{"queue", deps.config.queue_http_threads};
  router.add(
      "POST", "/v1/queue/tokens", [api](const Request& r) { return api->issue_token(r); },
      queue_lane);
  router.add("GET", "/v1/queue/status",
             http::Parking{[api](const Request& r, const http::Later& later) {
               return api->queue_status(r, later);
             }},
             queue_lane);
  // Everything else reads or writes the schema: checked first (the caller,
  // then the request), then the ready gate (ReadyGate::gated), then the
  // route. Catalogue reads are answered on the I/O thread from the
  // in-process cache when possible (http::InlineFirst), else on the pool.
  router.add("GET", "/v1/concerts",
             http::InlineFirst{[api](const Request& r) { return api->concerts_fast(r); },
                               gate.gated([api](const Request& r) { return api->active(r); },
                                          [api](const Request&, const auth::TokenClaims&) {
                                            return api->concert_list();
                                          })});
  router.add(
      "GET", "/v1/concerts/{id}/schedules",
      http::InlineFirst{
          [api](const Request& r) { return api->schedules_fast(r); },
          gate.gated([api](const Request& r) { return api->active_and_id(r, "concert id"); },
                     [api](const Request&, std::int64_t id) { return api->schedule_list(id); })});
  router.add(
      "GET", "/v1/schedules/{id}/seats",
      http::InlineFirst{
          [api](const Request& r) { return api->seats_fast(r); },
          gate.gated([api](const Request& r) { return api->active_and_id(r, "schedule id"); },
                     [api](const Request&, std::int64_t id) { return api->seat_map(id); })});
  router.add("POST", "/v1/reservations",
             gate.gated([api](const Request& r) { return api->hold_request(r); },
                        [api](const Request& r, const Api::HoldRequest& hold) {
                          return api->hold_seat(r, hold);
                        }));
  router.add(
      "GET", "/v1/reservations/{id}",
      gate.gated([api](const Request& r) { return api->owner_and_id(r); },
                 [api](const Request&, const Api::Owned& o) { return api->get_reservation(o); }));
  router.add(
      "DELETE", "/v1/reservations/{id}",
      gate.gated([api](const Request& r) { return api->owner_and_id(r); },
                 [api](const Request& r, const Api::Owned& o) { return api->cancel(r, o); }));
}

}  // namespace ticketing::reservation
