#include "db_metrics.hpp"

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
