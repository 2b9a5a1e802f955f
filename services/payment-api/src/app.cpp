#include "app.hpp"

#include <chrono>
#include <memory>

#include "config.hpp"
#include "events/payment_events.hpp"
#include "http/routes.hpp"
#include "store/store.hpp"
#include "ticketing/auth/token.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/db/db.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/outbox/pruner.hpp"
#include "ticketing/outbox/relay.hpp"
#include "ticketing/service/consumer_worker.hpp"

namespace ticketing::payment {

service::HostSpec spec() {
  return service::HostSpec::api(std::string(kServiceName), 9082, 8082, "payment", false);
}

namespace {

// Everything the service holds between setup and teardown.
struct Runtime {
  Config config;
  auth::TokenSigner signer;
  service::QueueTokenAuth tokens;
  std::unique_ptr<Store> store;
  std::unique_ptr<Store> consumer_store;  // on the consumer's own connections
  std::unique_ptr<outbox::Relay> relay;
  std::unique_ptr<outbox::Pruner> pruner;
  std::vector<std::unique_ptr<service::ConsumerWorker>> workers;

  explicit Runtime(Config c)
      : config(std::move(c)),
        signer(config.token_secret, config.token_max_age),
        tokens(signer, config.token_max_age) {}
};

}  // namespace

service::Setup configure(EnvReader& env) {
  auto config = Config::read(env);
  return [config](service::ServiceHost& host) -> service::Teardown {
    auto rt = std::make_shared<Runtime>(config);
    const auto& infra = host.config().infra;
    auto& pool = host.infra().mysql();

    rt->store = std::make_unique<Store>(pool, infra.mysql_database);
    rt->consumer_store =
        std::make_unique<Store>(host.infra().mysql_consumers(), infra.mysql_database);
    auto relay_options =
        outbox::relay_options_for(infra.mysql_url, infra.mysql_database,
                                  host.config().common.kafka_bootstrap, std::string(kServiceName));
    namespace t = events::topics;
    for (auto topic : {t::kPaymentCompleted, t::kPaymentRefunded, t::kNotifyPaymentCompleted,
                       t::kNotifyPaymentRefunded})
      relay_options.warm_topics.emplace_back(topic);
    rt->relay = std::make_unique<outbox::Relay>(std::move(relay_options));
    host.health().add_liveness("outbox", [r = rt->relay.get()] { return r->healthy(); });
    auto prune = outbox::pruner_options_for(infra.mysql_url, infra.mysql_database, rt->config.prune,
                                            std::string(kServiceName));
    prune.tables = {{"processed_events", "processed_at", outbox::TimeColumn::kDatetime,
                     rt->config.prune.dedupe_retention},
                    {"idempotency_keys", "created_at_ms", outbox::TimeColumn::kUnixMillis,
                     rt->config.idempotency_key_retention}};
    rt->pruner = std::make_unique<outbox::Pruner>(std::move(prune));
    events::HandlingOptions handling;
    handling.retry.max_infra_attempts = rt->config.consumer_max_attempts;
    handling.retry.max_backoff = rt->config.consumer_max_backoff;
    handling.concurrency = rt->config.consumer_concurrency;
    ReservationEventHandler handler(*rt->consumer_store, *rt->relay, rt->config.trusted_producers);
    if (rt->config.consumer_batch) {
      handling.batch_handler = [handler](const std::vector<events::Event>& evs) mutable {
        return handler.batch(evs);
      };
    }
    for (int i = 0; i < rt->config.consumer_threads; ++i) {
      rt->workers.push_back(std::make_unique<service::ConsumerWorker>(
          host,
          std::vector<std::string>{std::string(events::topics::kReservationHeld),
                                   std::string(events::topics::kReservationCancelled),
                                   std::string(events::topics::kReservationConfirmationFailed)},
          handler, handling));
    }

    add_routes(host.router(), *rt->store, rt->config, rt->tokens, *rt->relay, host.ready_gate());
    // The relay and the consumer start once the schema exists.
    host.start_after_migrations(
        [&pool, database = infra.mysql_database] {
          return db::apply_migrations(pool, database, migrations());
        },
        [rt] {
          rt->relay->start();
          rt->pruner->start();
          for (auto& w : rt->workers) w->start();
        });

    // The HTTP server still serves after teardown until host.stop(); the
    // runtime stays alive (shared) with the routes that reference it.
    return [rt] {
      rt->pruner->stop();
      for (auto& w : rt->workers) w->stop();
      rt->relay->stop();
    };
  };
}

}  // namespace ticketing::payment
