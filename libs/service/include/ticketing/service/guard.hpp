#pragma once
// What every public route checks before its own work, written once for both
// APIs:
//   - ReadyGate: until the service's start-up work is done (its schema
//     migrations), every route answers 503 SERVICE_STARTING with
//     Retry-After: 1; the same code in every API. guard() refuses before
//     anything else; gated() after the checks a caller can put right.
//   - Checked<T> and with(): a precondition (the caller, a parsed body)
//     yields what the route needs or the answer that ends the request; with()
//     runs the route only with the value, so no route can forget the check.
//   - QueueTokenAuth: the caller's queue token (Authorization: Bearer),
//     verified offline and remembered while it is valid. Each API turns an
//     AuthFailure into its own answer in its outcome table (http/).

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

#include "ticketing/auth/token.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::service {

class ReadyGate {
 public:
  void open() noexcept { open_.store(true); }
  [[nodiscard]] bool is_open() const noexcept { return open_.load(); }
  // std::nullopt while open; else the 503 to answer.
  [[nodiscard]] std::optional<http::Response> refusal() const;
  // A handler that answers the refusal while the gate is closed.
  [[nodiscard]] http::Handler guard(http::Handler handler) const;
  // A route in two steps: `check` (Request -> Checked<T>: who the caller
  // is, its rate limits, a malformed request) and `act` (Request, T ->
  // Response), which alone may touch the schema and runs only while the
  // gate is open. A request that would fail anyway says why even while the
  // service starts, and a route registered this way cannot skip the gate.
  template <typename Check, typename Act>
  [[nodiscard]] http::Handler gated(Check check, Act act) const;

 private:
  std::atomic<bool> open_{false};
};

template <typename T>
using Checked = std::variant<T, http::Response>;

// The route's answer with the checked value, or the check's own answer.
template <typename T, typename Route>
http::Response with(Checked<T> checked, Route&& route) {
  if (auto* answer = std::get_if<http::Response>(&checked)) return std::move(*answer);
  return std::forward<Route>(route)(std::get<T>(checked));
}

template <typename Check, typename Act>
http::Handler ReadyGate::gated(Check check, Act act) const {
  return [this, check = std::move(check), act = std::move(act)](const http::Request& req) {
    return with(check(req), [&](auto& checked) -> http::Response {
      if (auto r = refusal()) return std::move(*r);
      return act(req, checked);
    });
  };
}

enum class AuthFailure { kMissing, kInvalid, kExpired };

class QueueTokenAuth {
 public:
  // The signer must outlive this; max_age is the signer's
  // (TOKEN_MAX_AGE_SECONDS): a remembered token expires with it.
  QueueTokenAuth(const auth::TokenSigner& signer, std::chrono::seconds max_age)
      : signer_(signer), max_age_(max_age) {}

  // The claims of the request's Bearer queue token, or why there are none.
  [[nodiscard]] std::variant<auth::TokenClaims, AuthFailure> authenticate(
      const http::Request& req) const;
  // Claims of a token verified before and still within max_age; never
  // verifies (no crypto), so it may run on an I/O thread.
  [[nodiscard]] std::optional<auth::TokenClaims> known(std::string_view token) const;

 private:
  const auth::TokenSigner& signer_;
  std::chrono::seconds max_age_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, auth::TokenClaims> verified_;  // token -> claims
};

}  // namespace ticketing::service
