#include "app.hpp"

#include <memory>

#include "config.hpp"
#include "events/scheduler.hpp"
#include "store/timer_store.hpp"
#include "ticketing/service/infra.hpp"

namespace ticketing::scheduler {

service::HostSpec spec() {
  return service::HostSpec::redis_worker("seat-expiry-scheduler", 9083);
}

service::Setup configure(EnvReader& env) {
  const Config config = Config::read(env);
  return [store = config.store, sched = config.scheduler](service::ServiceHost& host) mutable {
    sched.service = host.config().common.service;
    auto timers = std::make_shared<TimerStore>(host.infra().redis(), store);
    auto scheduler = std::make_shared<ExpiryScheduler>(host, sched, *timers);
    scheduler->start();
    return service::Teardown([timers, scheduler] { scheduler->stop(); });
  };
}

}  // namespace ticketing::scheduler
