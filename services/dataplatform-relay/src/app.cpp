#include "app.hpp"

#include <memory>
#include <string>
#include <vector>

#include "events/relay_worker.hpp"
#include "store/dedupe_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"

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

namespace {

struct Settings {
  RelayConfig relay;
  std::string redis_prefix;
  std::chrono::seconds dedupe_ttl{30LL * 24 * 3600};
};

Settings read_settings(EnvReader& env) {
  Settings s;
  RelayConfig& c = s.relay;
  std::string url = env.required("DATAPLATFORM_URL");
  while (!url.empty() && url.back() == '/') url.pop_back();
  c.endpoint = url + "/reservations";
  c.timeout = std::chrono::milliseconds(env.integer("DATAPLATFORM_TIMEOUT_MS", 5000, 1, 600000));
  c.tls_verify = env.boolean("DATAPLATFORM_TLS_VERIFY", true);
  c.ca_file = env.str("DATAPLATFORM_CA_FILE", "");
  c.max_attempts = static_cast<int>(env.integer("RELAY_MAX_ATTEMPTS", 0, 0, 100000));
  c.backoff.initial =
      std::chrono::milliseconds(env.integer("RELAY_BACKOFF_INITIAL_MS", 200, 1, 3600000));
  c.backoff.max = std::chrono::milliseconds(env.integer("RELAY_BACKOFF_MAX_MS", 30000, 1, 3600000));
  c.breaker.failure_threshold =
      static_cast<int>(env.integer("BREAKER_FAILURE_THRESHOLD", 5, 1, 100000));
  c.breaker.open_for = std::chrono::milliseconds(env.integer("BREAKER_OPEN_MS", 5000, 1, 3600000));
  s.redis_prefix = env.str("REDIS_PREFIX", "relay:");
  s.dedupe_ttl = std::chrono::seconds(
      env.integer("RELAY_DEDUPE_TTL_S", 30LL * 24 * 3600, 1, 10LL * 365 * 24 * 3600));
  // A missing DATAPLATFORM_URL is reported by the reader with everything else.
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    env.fail("DATAPLATFORM_URL", "must start with http:// or https://");
  return s;
}

}  // namespace

service::Setup configure(EnvReader& env) {
  Settings s = read_settings(env);
  return [s](service::ServiceHost& host) {
    auto dedupe = std::make_shared<DedupeStore>(host.infra().redis(), s.redis_prefix, s.dedupe_ttl);
    auto worker = std::make_shared<RelayWorker>(host, s.relay, *dedupe);
    worker->start();
    log::info("relaying",
              {{"endpoint", s.relay.endpoint}, {"group", host.config().common.consumer_group}});
    return service::Teardown([dedupe, worker] { worker->stop(); });
  };
}

}  // namespace ticketing::relay
