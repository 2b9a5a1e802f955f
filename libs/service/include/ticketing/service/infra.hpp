#pragma once

#include <memory>
#include <string>

#include "ticketing/common/config.hpp"
#include "ticketing/service/health.hpp"
#include "ticketing/service/runtime.hpp"

namespace ticketing::events {
class Producer;
}
namespace ticketing::db {
class Pool;
}
namespace ticketing::redis {
class Pool;
}

namespace ticketing::service {

// Which backing services a service uses; each one read from the environment
// (MYSQL_URL, REDIS_URL) and probed by /health/ready.
struct InfraNeeds {
  bool mysql = false;
  std::string mysql_database;  // the service's own schema, e.g. "reservation"
  bool redis = false;
};

struct InfraConfig {
  std::string mysql_url;
  std::string mysql_database;
  int mysql_pool_size = 16;
  int mysql_consumer_pool_size = 12;
  std::string redis_url;
  int redis_pool_size = 16;

  static InfraConfig read(EnvReader& env, const InfraNeeds& needs);
};

// The clients a service holds for its life: the Kafka producer (every service
// produces, at least to a DLQ), and the MariaDB and Redis pools it needs.
// Connections are lazy: a service starts while a dependency is down and
// reports not-ready until it answers.
class Infra {
 public:
  Infra(const CommonConfig& common, const InfraConfig& config, HealthChecks& checks);
  ~Infra();
  Infra(const Infra&) = delete;
  Infra& operator=(const Infra&) = delete;

  events::Producer& producer();
  db::Pool& mysql();  // throws std::logic_error when not configured
  // The event consumers' own connections (MYSQL_CONSUMER_POOL_SIZE, 12: one per handler lane,
  // CONSUMER_THREADS x CONSUMER_CONCURRENCY = 3 x 4 by default): under a rush the HTTP handlers
  // keep every connection of mysql() busy, and a consumer queued behind them delayed
  // confirmations by seconds. A smaller pool only makes lanes wait for a connection.
  db::Pool& mysql_consumers();  // likewise
  redis::Pool& redis();         // likewise

 private:
  std::unique_ptr<events::Producer> producer_;
  std::unique_ptr<db::Pool> mysql_;
  std::unique_ptr<db::Pool> mysql_consumers_;
  std::unique_ptr<redis::Pool> redis_;
};

}  // namespace ticketing::service
