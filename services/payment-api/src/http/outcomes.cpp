#include "http/outcomes.hpp"

#include <string>

namespace ticketing::payment {

OutcomeInfo describe(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return {200, "OK", "ok"};
    case Outcome::kBalanceLimit:
      return {409, "BALANCE_LIMIT", "the charge would exceed the maximum balance"};
    case Outcome::kInsufficientBalance:
      return {402, "INSUFFICIENT_BALANCE", "balance is too low for this payment"};
    case Outcome::kReservationNotFound:
      return {404, "RESERVATION_NOT_FOUND", "no such held reservation"};
    case Outcome::kReservationExpired:
      return {409, "RESERVATION_EXPIRED", "the hold has expired or was released"};
    case Outcome::kAlreadyPaid:
      return {409, "ALREADY_PAID", "this reservation is already paid"};
    case Outcome::kIdempotencyConflict:
      return {409, "IDEMPOTENCY_KEY_REUSED",
              "this Idempotency-Key was used with a different request"};
    case Outcome::kPaymentNotFound:
      return {404, "PAYMENT_NOT_FOUND", "no such payment"};
  }
  return {500, "INTERNAL", "unknown outcome"};
}

OutcomeInfo describe(ApiError e) {
  switch (e) {
    case ApiError::kInvalidIdempotencyKey:
      return {400, "INVALID_IDEMPOTENCY_KEY",
              "Idempotency-Key must be 1..255 printable ASCII characters"};
    case ApiError::kInvalidHoldReceipt:
      break;
  }
  return {400, "INVALID_HOLD_RECEIPT",
          "holdReceipt: not a receipt of this reservation's hold for you"};
}

namespace {

http::Response error_answer(const OutcomeInfo& info) {
  return http::Response::error(info.status, info.code, info.message);
}

}  // namespace

http::Response answer(Outcome o) {
  return error_answer(describe(o));
}

http::Response answer(ApiError e) {
  return error_answer(describe(e));
}

http::Response invalid(std::string_view field, std::string_view problem) {
  return http::Response::error(400, "VALIDATION_FAILED",
                               std::string(field) + ": " + std::string(problem));
}

http::Response answer(service::AuthFailure f) {
  switch (f) {
    case service::AuthFailure::kMissing:
      return http::Response::error(401, "UNAUTHORIZED", "missing bearer token");
    case service::AuthFailure::kExpired:
      return http::Response::error(401, "UNAUTHORIZED", "invalid token: expired");
    case service::AuthFailure::kInvalid:
      break;
  }
  return http::Response::error(401, "UNAUTHORIZED", "invalid token");
}

}  // namespace ticketing::payment
