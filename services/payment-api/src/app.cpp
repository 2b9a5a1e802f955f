#include "app.hpp"

namespace ticketing::payment {

service::HostSpec spec() {
  service::HostSpec s;
  s.service = "payment-api";
  s.default_admin_port = 9082;
  s.default_http_port = 8082;
  s.needs.mysql = true;
  s.needs.mysql_database = "payment";
  s.needs.redis = false;
  return s;
}

service::Setup configure(EnvReader& /*env*/) {
  // Business logic arrives with this service's issue.
  return [](service::ServiceHost&) { return service::Teardown{}; };
}

}  // namespace ticketing::payment
