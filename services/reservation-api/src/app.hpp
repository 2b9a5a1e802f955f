#pragma once

#include "ticketing/service/host.hpp"

namespace ticketing::reservation {

// What this service is: name (= consumer group), ports, backing services.
service::HostSpec spec();

// Reads this service's own configuration and returns how to set it up on a
// running host (routes, consumers); see service::run_service.
service::Setup configure(EnvReader& env);

// `reservation-api migrate` / `reservation-api seed`: one-shot commands on
// MYSQL_URL / MYSQL_DATABASE; return the exit code.
int run_command(const std::string& command);

}  // namespace ticketing::reservation
