#pragma once
// The one place where the payment API's outcomes become HTTP answers:
// status, machine-readable code and message (docs/openapi.yaml lists them).

#include <string_view>

#include "domain/wallet.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/service/guard.hpp"

namespace ticketing::payment {

struct OutcomeInfo {
  int status;
  std::string_view code;
  std::string_view message;
};
OutcomeInfo describe(Outcome o);

// Refusals of a request that are not a wallet rule's outcome.
enum class ApiError {
  kInvalidIdempotencyKey,  // not 1..255 printable ASCII characters
  kInvalidHoldReceipt,     // not a receipt of this reservation's hold for the caller
};
OutcomeInfo describe(ApiError e);

// describe(o) as the error answer (o is not kOk).
http::Response answer(Outcome o);
http::Response answer(ApiError e);
// 400 VALIDATION_FAILED: "<field>: <problem>".
http::Response invalid(std::string_view field, std::string_view problem);
// One code for every token problem (UNAUTHORIZED): payment-api does not tell
// a forged token from an expired one.
http::Response answer(service::AuthFailure f);

}  // namespace ticketing::payment
