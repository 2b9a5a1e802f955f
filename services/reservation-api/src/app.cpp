#include "app.hpp"

namespace ticketing::reservation {

service::HostSpec spec() {
  service::HostSpec s;
  s.service = "reservation-api";
  s.default_admin_port = 9081;
  s.default_http_port = 8081;
  s.needs.mysql = true;
  s.needs.mysql_database = "reservation";
  s.needs.redis = true;
  return s;
}

service::Setup configure(EnvReader& /*env*/) {
  // Business logic arrives with this service's issue.
  return [](service::ServiceHost&) { return service::Teardown{}; };
}

}  // namespace ticketing::reservation
