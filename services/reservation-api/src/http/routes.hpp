#pragma once

#include "config.hpp"
#include "ticketing/auth/hold_receipt.hpp"
#include "ticketing/auth/id_token.hpp"
#include "ticketing/auth/token.hpp"
#include "ticketing/service/guard.hpp"
#include "ticketing/service/throttle.hpp"

namespace ticketing::http {
class Router;
}

namespace ticketing::reservation {

class QueueStore;
class QueueWatch;
class ReservationStore;
class CatalogueCache;

struct ApiDeps {
  const Config& config;
  const auth::IdTokenVerifier& id_tokens;  // who calls POST /v1/queue/tokens
  const auth::TokenSigner& signer;
  const service::QueueTokenAuth& tokens;  // the callers' queue tokens (signer's)
  const auth::HoldReceipts& receipts;     // holdReceipt of a HELD reservation
  const service::Throttle& throttle;      // config.limits, in Redis
  QueueStore& queue;
  QueueWatch& watch;  // long polls of GET /v1/queue/status
  ReservationStore& store;
  CatalogueCache& cache;
  const service::ReadyGate& ready;  // open once migrations are applied
};

// The public API of system.md section 6 (reservation-api part).
void add_routes(http::Router& router, const ApiDeps& deps);

}  // namespace ticketing::reservation
