#include "ticketing/service/infra.hpp"

#include <chrono>
#include <stdexcept>

#include "ticketing/db/options.hpp"
#include "ticketing/db/pool.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/redis/options.hpp"
#include "ticketing/redis/pool.hpp"

namespace ticketing::service {

using std::chrono::milliseconds;

InfraConfig InfraConfig::read(EnvReader& env, const InfraNeeds& needs) {
  InfraConfig c;
  if (needs.mysql) {
    c.mysql_url = env.required("MYSQL_URL");
    c.mysql_database = env.str("MYSQL_DATABASE", needs.mysql_database);
    c.mysql_pool_size = static_cast<int>(env.integer("MYSQL_POOL_SIZE", 16, 1, 512));
    c.mysql_consumer_pool_size =
        static_cast<int>(env.integer("MYSQL_CONSUMER_POOL_SIZE", 12, 1, 256));
  }
  if (needs.redis) {
    c.redis_url = env.required("REDIS_URL");
    c.redis_pool_size = static_cast<int>(env.integer("REDIS_POOL_SIZE", 16, 1, 512));
  }
  return c;
}

Infra::Infra(const CommonConfig& common, const InfraConfig& config, HealthChecks& checks) {
  events::ProducerOptions po;
  po.bootstrap_servers = common.kafka_bootstrap;
  po.client_id = common.service;
  producer_ = std::make_unique<events::Producer>(po);
  // A fatal producer (idempotence broken) can no longer publish: not ready.
  checks.add("kafka", [p = producer_.get()] { return !p->fatal() && p->ping(milliseconds(1000)); });

  if (!config.mysql_url.empty()) {
    db::PoolOptions options;
    try {
      options.connect = db::parse_url(config.mysql_url);
    } catch (const std::invalid_argument& e) {
      throw ConfigError({std::string("MYSQL_URL: ") + e.what()});
    }
    // The schema is created by the service's migrations; until then the pool
    // connects without a default database.
    options.max_size = static_cast<std::size_t>(config.mysql_pool_size);
    mysql_ = std::make_unique<db::Pool>(options);
    options.max_size = static_cast<std::size_t>(config.mysql_consumer_pool_size);
    mysql_consumers_ = std::make_unique<db::Pool>(options);
    checks.add("mysql", [p = mysql_.get()] { return p->ping(milliseconds(1000)); });
  }
  if (!config.redis_url.empty()) {
    redis::PoolOptions options;
    try {
      options.redis = redis::parse_url(config.redis_url);
    } catch (const std::invalid_argument& e) {
      throw ConfigError({std::string("REDIS_URL: ") + e.what()});
    }
    options.max_size = static_cast<std::size_t>(config.redis_pool_size);
    redis_ = std::make_unique<redis::Pool>(options);
    checks.add("redis", [p = redis_.get()] { return p->ping(milliseconds(1000)); });
  }
}

Infra::~Infra() = default;

events::Producer& Infra::producer() {
  return *producer_;
}

db::Pool& Infra::mysql() {
  if (!mysql_) throw std::logic_error("this service has no MariaDB pool");
  return *mysql_;
}

db::Pool& Infra::mysql_consumers() {
  if (!mysql_consumers_) throw std::logic_error("this service has no MariaDB pool");
  return *mysql_consumers_;
}

redis::Pool& Infra::redis() {
  if (!redis_) throw std::logic_error("this service has no Redis pool");
  return *redis_;
}

}  // namespace ticketing::service
