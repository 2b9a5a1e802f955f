#include "db_metrics.hpp"

#include "ticketing/common/log.hpp"
#include "ticketing/db/retry.hpp"

namespace ticketing::db::detail {

metrics::Histogram& query_duration(const char* op) {
  return metrics::global().histogram("db_query_duration_seconds",
                                     "MariaDB statement round trip time", {{"op", op}});
}

void count_error(unsigned code) {
  metrics::global()
      .counter("db_errors_total", "MariaDB errors by server/client error code",
               {{"code", std::to_string(code)}})
      .inc();
}

}  // namespace ticketing::db::detail

namespace ticketing::db::detail {

void note_retry(const char* reason, const char* what) {
  metrics::global()
      .counter("db_transaction_retries_total",
               "Transactions run again after a deadlock, a lock wait timeout or a lost race",
               {{"reason", reason}})
      .inc();
  log::warn("transaction retried", {{"reason", reason}, {"error", what}});
}

}  // namespace ticketing::db::detail
