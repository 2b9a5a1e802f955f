#include "ticketing/service/guard.hpp"

#include <ctime>

namespace ticketing::service {

std::optional<http::Response> ReadyGate::refusal() const {
  if (is_open()) return std::nullopt;
  auto r = http::Response::error(503, "SERVICE_STARTING",
                                 "the service is starting (its database schema is not ready yet)");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

http::Handler ReadyGate::guard(http::Handler handler) const {
  return [this, h = std::move(handler)](const http::Request& req) {
    if (auto r = refusal()) return std::move(*r);
    return h(req);
  };
}

std::optional<auth::TokenClaims> QueueTokenAuth::known(std::string_view token) const {
  std::lock_guard lock(mutex_);
  auto it = verified_.find(std::string(token));
  if (it == verified_.end()) return std::nullopt;
  if (std::time(nullptr) - it->second.issued_at > max_age_.count()) return std::nullopt;
  return it->second;
}

std::variant<auth::TokenClaims, AuthFailure> QueueTokenAuth::authenticate(
    const http::Request& req) const {
  auto token = auth::bearer_token(req.header("authorization"));
  if (!token) return AuthFailure::kMissing;
  if (auto claims = known(*token)) return *claims;
  auto verified = signer_.verify(*token);
  if (auto* err = std::get_if<auth::TokenError>(&verified)) {
    return *err == auth::TokenError::kExpired ? AuthFailure::kExpired : AuthFailure::kInvalid;
  }
  const auto& claims = std::get<auth::TokenClaims>(verified);
  std::lock_guard lock(mutex_);
  // Bounded: a flood of distinct valid tokens empties it instead of growing it.
  if (verified_.size() >= 100000) verified_.clear();
  verified_.emplace(std::string(*token), claims);
  return claims;
}

}  // namespace ticketing::service
