#pragma once

#include "ticketing/service/host.hpp"

namespace ticketing::notification {

// What this service is: name (= consumer group), ports, backing services.
service::HostSpec spec();

// Reads this service's own configuration and returns how to set it up on a
// running host (routes, consumers); see service::run_service.
service::Setup configure(EnvReader& env);

}  // namespace ticketing::notification
