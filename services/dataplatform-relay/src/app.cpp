#include "app.hpp"

namespace ticketing::relay {

service::HostSpec spec() {
  service::HostSpec s;
  s.service = "dataplatform-relay";
  s.default_admin_port = 9084;
  s.default_http_port = 0;
  s.needs.mysql = false;
  s.needs.mysql_database = "";
  s.needs.redis = true;
  return s;
}

service::Setup configure(EnvReader& /*env*/) {
  // Business logic arrives with this service's issue.
  return [](service::ServiceHost&) { return service::Teardown{}; };
}

}  // namespace ticketing::relay
