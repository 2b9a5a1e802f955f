#pragma once

#include "config.hpp"
#include "store/store.hpp"
#include "ticketing/service/guard.hpp"

namespace ticketing::http {
class Router;
}
namespace ticketing::outbox {
class Relay;
}

namespace ticketing::payment {

// Adds the public API of system.md section 6 (payment-api) to `router`.
// Everything passed in must outlive the server.
// Every route answers `ready`'s 503 until it opens (the schema exists).
void add_routes(http::Router& router, Store& store, const Config& config,
                const service::QueueTokenAuth& tokens, outbox::Relay& relay,
                const service::ReadyGate& ready);

}  // namespace ticketing::payment
