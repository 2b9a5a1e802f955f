#include "http/outcomes.hpp"

#include <string>

namespace ticketing::reservation {

using http::Response;

namespace {

Response with_header(Response r, const char* name, const char* value) {
  r.headers.emplace_back(name, value);
  return r;
}

Response unauthorized(const char* code, const std::string& message) {
  return with_header(Response::error(401, code, message), "WWW-Authenticate", "Bearer");
}

}  // namespace

Response answer(ApiError e) {
  switch (e) {
    case ApiError::kIdTokenMissing:
      return unauthorized(
          "UNAUTHORIZED",
          "an ID token of the identity provider is required (Authorization: Bearer)");
    case ApiError::kTokenLapsed:
      return Response::error(401, "TOKEN_EXPIRED", "the queue token is no longer in the queue");
    case ApiError::kQueueNotActive:
      return Response::error(403, "QUEUE_NOT_ACTIVE", "wait for your turn in the queue");
    case ApiError::kQueueFull:
      return with_header(
          Response::error(503, "QUEUE_FULL", "the waiting queue is full, retry later"),
          "Retry-After", "10");
    case ApiError::kConcertNotFound:
      return Response::error(404, "CONCERT_NOT_FOUND", "no such concert");
    case ApiError::kScheduleNotFound:
      return Response::error(404, "SCHEDULE_NOT_FOUND", "no such schedule");
    case ApiError::kReservationNotFound:
      return Response::error(404, "RESERVATION_NOT_FOUND", "no such reservation");
  }
  return Response::error(500, "INTERNAL", "unknown refusal");
}

Response answer(service::AuthFailure f) {
  switch (f) {
    case service::AuthFailure::kMissing:
      return Response::error(401, "UNAUTHORIZED", "a Bearer queue token is required");
    case service::AuthFailure::kExpired:
      return Response::error(401, "TOKEN_EXPIRED", "the queue token has expired");
    case service::AuthFailure::kInvalid:
      return Response::error(401, "INVALID_TOKEN", "the queue token is not valid");
  }
  return Response::error(401, "INVALID_TOKEN", "the queue token is not valid");
}

Response answer(auth::IdTokenError e) {
  switch (e) {
    case auth::IdTokenError::kKeysUnavailable:
      return with_header(
          Response::error(503, "IDENTITY_UNAVAILABLE",
                          "the identity provider's keys are not available, retry later"),
          "Retry-After", "5");
    case auth::IdTokenError::kExpired:
      return unauthorized("ID_TOKEN_EXPIRED", "the ID token has expired: sign in again");
    default:
      return unauthorized("INVALID_ID_TOKEN",
                          "the ID token is not valid (" + std::string(auth::to_string(e)) + ")");
  }
}

Response answer(HoldOutcome o) {
  switch (o) {
    case HoldOutcome::kSeatUnavailable:
    case HoldOutcome::kHeld:  // not a refusal; never asked
      break;
    case HoldOutcome::kHoldLimit:
      return Response::error(409, "HOLD_LIMIT", "too many seats held at once");
    case HoldOutcome::kScheduleNotFound:
      return answer(ApiError::kScheduleNotFound);
  }
  return Response::error(409, "SEAT_UNAVAILABLE", "the seat is not available");
}

Response answer(CancelOutcome o) {
  switch (o) {
    case CancelOutcome::kNotFound:
      return answer(ApiError::kReservationNotFound);
    case CancelOutcome::kAlreadyConfirmed:
      return Response::error(409, "ALREADY_CONFIRMED",
                             "a confirmed reservation cannot be released");
    case CancelOutcome::kNotHeld:
    case CancelOutcome::kCancelled:  // not a refusal; never asked
      break;
  }
  return Response::error(409, "NOT_HELD", "the reservation is no longer held");
}

Response bad_id(const char* name) {
  return Response::error(400, "VALIDATION_FAILED",
                         std::string(name) + " must be a positive integer");
}

}  // namespace ticketing::reservation
