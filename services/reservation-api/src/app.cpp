#include "app.hpp"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "config.hpp"
#include "events/admission_notices.hpp"
#include "events/consumers.hpp"
#include "http/routes.hpp"
#include "store/catalogue_cache.hpp"
#include "store/queue_store.hpp"
#include "store/queue_watch.hpp"
#include "store/reservation_store.hpp"
#include "store/schema.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/db/pool.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/outbox/pruner.hpp"
#include "ticketing/outbox/relay.hpp"
#include "ticketing/service/consumer_worker.hpp"
#include "ticketing/service/runtime.hpp"
#include "ticketing/service/throttle.hpp"

namespace ticketing::reservation {

Config Config::read(EnvReader& env) {
  Config c;
  c.id_token = auth::IdTokenSettings::read(env);
  c.token_secret = env.secret("TOKEN_SECRET");
  using service::read_rate_limit;
  c.limits.token_user = read_rate_limit(env, "RATE_LIMIT_TOKEN_USER", "token_user", "1/s:5");
  c.limits.token_client =
      read_rate_limit(env, "RATE_LIMIT_TOKEN_CLIENT", "token_client", "50/s:500");
  c.limits.status_user = read_rate_limit(env, "RATE_LIMIT_STATUS_USER", "status_user", "5/s:10");
  c.limits.status_client =
      read_rate_limit(env, "RATE_LIMIT_STATUS_CLIENT", "status_client", "500/s:2000");
  c.limits.hold_user = read_rate_limit(env, "RATE_LIMIT_HOLD_USER", "hold_user", "2/s:5");
  c.limits.hold_client = read_rate_limit(env, "RATE_LIMIT_HOLD_CLIENT", "hold_client", "100/s:500");
  std::string proxy_error;
  auto proxies = http::TrustedProxies::parse(
      env.str("TRUSTED_PROXIES", env.boolean("TICKETING_DEV_MODE", false) ? "127.0.0.0/8,::1" : ""),
      &proxy_error);
  if (proxies)
    c.trusted_proxies = *proxies;
  else
    env.fail("TRUSTED_PROXIES", proxy_error);
  c.token_max_age =
      std::chrono::seconds(env.integer("TOKEN_MAX_AGE_SECONDS", 86400, 1, 31 * 86400));
  c.queue_max_active = env.integer("QUEUE_MAX_ACTIVE", 100, 1, 1000000);
  c.queue_active_ttl = std::chrono::seconds(env.integer("QUEUE_ACTIVE_TTL_SECONDS", 600, 1, 86400));
  c.queue_max_waiting = env.integer("QUEUE_MAX_WAITING", 200000, 1, 100'000'000);
  c.queue_waiting_ttl =
      std::chrono::seconds(env.integer("QUEUE_WAITING_TTL_SECONDS", 120, 1, 86400));
  c.promote_interval =
      std::chrono::milliseconds(env.integer("QUEUE_PROMOTE_INTERVAL_MS", 200, 10, 10000));
  c.queue_admit_per_second = env.integer("QUEUE_ADMIT_PER_SECOND", 0, 0, 1000000);
  c.queue_http_threads = static_cast<int>(env.integer("QUEUE_HTTP_THREADS", 4, 1, 256));
  c.queue_long_poll_max =
      std::min(std::chrono::seconds(env.integer("QUEUE_LONG_POLL_MAX_SECONDS", 30, 0, 300)),
               c.queue_waiting_ttl / 2);
  c.queue_watch_interval =
      std::chrono::milliseconds(env.integer("QUEUE_WATCH_INTERVAL_MS", 50, 10, 5000));
  c.queue_long_poll_max_parked = env.integer("QUEUE_LONG_POLL_MAX_PARKED", 20000, 0, 1000000);
  c.hold_ttl = std::chrono::seconds(env.integer("HOLD_TTL_SECONDS", 300, 1, 86400));
  c.hold_release_grace =
      std::chrono::seconds(env.integer("HOLD_RELEASE_GRACE_SECONDS", 10, 0, 3600));
  c.max_holds_per_user = static_cast<int>(env.integer("MAX_HOLDS_PER_USER", 4, 1, 50));
  c.redis_prefix = env.str("REDIS_PREFIX", "reservation:");
  c.cache_ttl = std::chrono::milliseconds(env.integer("CATALOGUE_CACHE_TTL_MS", 2000, 0, 600000));
  c.catalogue_local_max_stale =
      std::chrono::milliseconds(env.integer("CATALOGUE_LOCAL_MAX_STALE_MS", 100, 0, 10000));
  c.queue_state_cache =
      std::chrono::milliseconds(env.integer("QUEUE_STATE_CACHE_MS", 100, 0, 10000));
  c.outbox_min_round_interval =
      std::chrono::milliseconds(env.integer("OUTBOX_MIN_ROUND_INTERVAL_MS", 0, 0, 1000));
  c.ignore_unknown_reservations = env.boolean("IGNORE_UNKNOWN_RESERVATIONS", false);
  c.consumer_threads = static_cast<int>(env.integer("CONSUMER_THREADS", 3, 1, 32));
  c.consumer_concurrency = static_cast<int>(env.integer("CONSUMER_CONCURRENCY", 4, 1, 32));
  c.consumer_batch = env.boolean("CONSUMER_BATCH", true);
  c.prune = outbox::PruneSettings::read(env);
  return c;
}

service::HostSpec spec() {
  return service::HostSpec::api("reservation-api", 9081, 8081, "reservation", true);
}

namespace {

db::ConnectOptions schema_connect(const std::string& url, const std::string& database) {
  auto options = db::parse_url(url);
  options.database = database;
  return options;
}

QueueOptions queue_options(const Config& c) {
  QueueOptions o;
  o.prefix = c.redis_prefix;
  o.max_active = c.queue_max_active;
  o.active_ttl = c.queue_active_ttl;
  o.max_waiting = c.queue_max_waiting;
  o.waiting_ttl = c.queue_waiting_ttl;
  o.admit_per_second = c.queue_admit_per_second;
  o.token_lifetime = c.token_max_age;
  o.state_cache = c.queue_state_cache;
  return o;
}

// Everything the service owns for its life, torn down in reverse.
struct Runtime {
  Runtime(service::ServiceHost& h, Config cfg)
      : host(h),
        config(std::move(cfg)),
        id_tokens(config.id_token),
        signer(config.token_secret, config.token_max_age),
        tokens(signer, config.token_max_age),
        receipts(config.token_secret),
        throttle(host.infra().redis(), config.redis_prefix),
        queue(host.infra().redis(), queue_options(config)),
        watch(queue,
              QueueWatchOptions{config.queue_watch_interval,
                                static_cast<std::size_t>(config.queue_long_poll_max_parked), 1000}),
        cache(host.infra().redis(), config.redis_prefix, config.cache_ttl,
              config.catalogue_local_max_stale),
        pool(db::PoolOptions{
            schema_connect(host.config().infra.mysql_url, host.config().infra.mysql_database),
            static_cast<std::size_t>(host.config().infra.mysql_pool_size),
            std::chrono::milliseconds(5000), std::chrono::milliseconds(5000)}),
        relay(make_relay_options()),
        pruner(make_pruner_options()),
        consumer_pool(db::PoolOptions{
            schema_connect(host.config().infra.mysql_url, host.config().infra.mysql_database),
            static_cast<std::size_t>(host.config().infra.mysql_consumer_pool_size),
            std::chrono::milliseconds(5000), std::chrono::milliseconds(5000)}),
        store(pool, store_hooks(), "reservation-api", store_options()),
        consumer_store(consumer_pool, store_hooks(), "reservation-api", store_options()) {
    host.health().add_liveness("outbox", [this] { return relay.healthy(); });
  }

  StoreHooks store_hooks() {
    return StoreHooks{[this] { relay.notify(); },
                      [this](std::int64_t schedule_id) { cache.invalidate_schedule(schedule_id); }};
  }
  [[nodiscard]] StoreOptions store_options() const {
    return StoreOptions{config.hold_release_grace, config.ignore_unknown_reservations};
  }

  outbox::RelayOptions make_relay_options() const {
    auto o =
        outbox::relay_options_for(host.config().infra.mysql_url, host.config().infra.mysql_database,
                                  host.config().common.kafka_bootstrap, "reservation-api");
    o.min_round_interval = config.outbox_min_round_interval;
    namespace t = events::topics;
    for (auto topic : {t::kReservationHeld, t::kReservationCancelled, t::kReservationConfirmed,
                       t::kReservationConfirmationFailed, t::kNotifyReservationCompleted,
                       t::kNotifyReservationConfirmed, t::kNotifyHoldExpired})
      o.warm_topics.emplace_back(topic);
    return o;
  }

  outbox::PrunerOptions make_pruner_options() const {
    auto o = outbox::pruner_options_for(host.config().infra.mysql_url,
                                        host.config().infra.mysql_database, config.prune,
                                        "reservation-api");
    o.tables = {{"processed_events", "processed_at", outbox::TimeColumn::kDatetime,
                 config.prune.dedupe_retention}};
    return o;
  }

  void start() {
    // The relay and the consumer start once the schema exists (the host's
    // start-up sequence); the queue and the catalogue cache need only Redis.
    host.start_after_migrations(
        [this] { return migrate(host.infra().mysql(), host.config().infra.mysql_database); },
        [this] { start_consuming(); });
    background.emplace_back([this](const std::stop_token& stop) { promote_loop(stop); });
    background.emplace_back([this](const std::stop_token& stop) { admission_notice_loop(stop); });
    watch.start();
    if (cache.local_enabled()) {
      background.emplace_back([this](const std::stop_token& stop) { cache_refresh_loop(stop); });
    }
  }

  void start_consuming() {
    relay.start();
    pruner.start();
    events::HandlingOptions handling;
    handling.concurrency = config.consumer_concurrency;
    if (config.consumer_batch) handling.batch_handler = make_batch_handler(consumer_store, queue);
    for (int i = 0; i < config.consumer_threads; ++i) {
      consumers.push_back(std::make_unique<service::ConsumerWorker>(
          host,
          std::vector<std::string>{std::string(events::topics::kPaymentCompleted),
                                   std::string(events::topics::kSeatsExpired)},
          make_event_handler(consumer_store, queue), handling));
      consumers.back()->start();
    }
  }

  void cache_refresh_loop(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      cache.refresh();
      wait_for(stop, cache.refresh_interval());
    }
  }

  void promote_loop(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      try {
        auto admitted = queue.promote();
        if (admitted > 0) {
          metrics::global()
              .counter("reservation_queue_admitted_total", "Users admitted from the waiting queue")
              .inc(static_cast<std::uint64_t>(admitted));
        }
      } catch (const std::exception& e) {
        log::warn("queue promotion failed", {{"error", e.what()}});
      }
      wait_for(stop, config.promote_interval);
    }
  }

  // "Your turn" notices of users admitted after waiting (AdmissionNotices).
  void admission_notice_loop(const std::stop_token& stop) {
    AdmissionNotices notices(
        host.infra().redis(), host.infra().producer(),
        AdmissionNoticesOptions{config.redis_prefix,
                                std::to_string(::getpid()) + "-" + new_uuid().substr(0, 8)});
    while (!stop.stop_requested()) {
      try {
        if (notices.publish_round() > 0) continue;  // more may be waiting
      } catch (const std::exception& e) {
        log::warn("queue admission notices failed; retrying", {{"error", e.what()}});
        wait_for(stop, std::chrono::seconds(1));
        continue;
      }
      wait_for(stop, std::chrono::milliseconds(200));
    }
  }

  void wait_for(const std::stop_token& stop, std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, stop, d, [&stop] { return stop.stop_requested(); });
  }

  // After the host's start-up sequence has stopped (run_service), so no
  // consumer is being started meanwhile.
  void shutdown() {
    watch.stop();  // parked long polls answered while the server still runs
    for (auto& t : background) t.request_stop();
    background.clear();  // joins
    pruner.stop();
    for (auto& c : consumers) c->stop();
    relay.stop();
  }

  service::ServiceHost& host;
  Config config;
  auth::IdTokenVerifier id_tokens;  // loads the provider's keys in the background
  auth::TokenSigner signer;
  service::QueueTokenAuth tokens;
  auth::HoldReceipts receipts;
  service::Throttle throttle;
  QueueStore queue;
  QueueWatch watch;
  CatalogueCache cache;
  db::Pool pool;
  outbox::Relay relay;
  outbox::Pruner pruner;
  // The event consumer's own connections (MYSQL_CONSUMER_POOL_SIZE): under a
  // rush the HTTP handlers keep every connection of `pool` busy.
  db::Pool consumer_pool;
  ReservationStore store;
  ReservationStore consumer_store;
  std::vector<std::unique_ptr<service::ConsumerWorker>> consumers;
  std::vector<std::jthread> background;
  std::mutex mutex;
  std::condition_variable_any cv;
};

}  // namespace

service::Setup configure(EnvReader& env) {
  auto config = Config::read(env);
  return [config](service::ServiceHost& host) {
    auto rt = std::make_shared<Runtime>(host, config);
    add_routes(host.router(), ApiDeps{rt->config, rt->id_tokens, rt->signer, rt->tokens,
                                      rt->receipts, rt->throttle, rt->queue, rt->watch, rt->store,
                                      rt->cache, host.ready_gate()});
    rt->start();
    return service::Teardown([rt] { rt->shutdown(); });
  };
}

int run_command(const std::string& command) {
  auto spec_ = spec();
  return service::guarded_main(spec_.service, [&] {
    EnvReader env;
    auto url = env.required("MYSQL_URL");
    auto database = env.str("MYSQL_DATABASE", spec_.needs.mysql_database);
    env.finish();
    log::init(spec_.service);
    db::Pool server(db::parse_url(url), 2);
    int applied = migrate(server, database);
    log::info("migrations applied", {{"database", database}, {"applied", std::to_string(applied)}});
    if (command == "seed") {
      db::Pool pool(schema_connect(url, database), 2);
      int schedules = seed_demo_catalogue(pool);
      log::info("demo catalogue loaded",
                {{"database", database}, {"schedules", std::to_string(schedules)}});
    }
    return 0;
  });
}

}  // namespace ticketing::reservation
