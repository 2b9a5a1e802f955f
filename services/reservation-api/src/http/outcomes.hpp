#pragma once
// The one place where the reservation API's outcomes become HTTP answers:
// status, machine-readable code and message (docs/openapi.yaml lists them).
// Routes never build an error answer of their own.

#include "domain/model.hpp"
#include "ticketing/auth/id_token.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/service/guard.hpp"

namespace ticketing::reservation {

// Refusals that are not a domain rule's outcome.
enum class ApiError {
  kIdTokenMissing,  // POST /v1/queue/tokens without an ID token
  kTokenLapsed,     // the queue place lapsed or was ended
  kQueueNotActive,  // still WAITING
  kQueueFull,
  kConcertNotFound,
  kScheduleNotFound,
  kReservationNotFound,
};

http::Response answer(ApiError e);
http::Response answer(service::AuthFailure f);  // the queue token
http::Response answer(auth::IdTokenError e);    // the identity provider's ID token
http::Response answer(HoldOutcome o);           // a refusal: not kHeld
http::Response answer(CancelOutcome o);         // a refusal: not kCancelled
// 400 VALIDATION_FAILED for a path id that is not a positive integer.
http::Response bad_id(const char* name);

}  // namespace ticketing::reservation
