#include "app.hpp"

#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "events/relay_worker.hpp"
#include "store/dedupe_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"

namespace ticketing::relay {

service::HostSpec spec() {
  return service::HostSpec::redis_worker("dataplatform-relay", 9084);
}

service::Setup configure(EnvReader& env) {
  Config s = Config::read(env);
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
