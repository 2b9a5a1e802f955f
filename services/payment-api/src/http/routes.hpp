#pragma once

#include <functional>

#include "config.hpp"
#include "store/store.hpp"
#include "ticketing/auth/token.hpp"

namespace ticketing::http {
class Router;
}
namespace ticketing::outbox {
class Relay;
}

namespace ticketing::payment {

// Adds the public API of system.md section 6 (payment-api) to `router`.
// Everything passed in must outlive the server.
// `ready` says whether the schema exists; until then every call is 503.
void add_routes(http::Router& router, Store& store, const PaymentConfig& config,
                const auth::TokenSigner& signer, outbox::Relay& relay, std::function<bool()> ready);

}  // namespace ticketing::payment
