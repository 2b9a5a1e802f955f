#pragma once

#include <string>

#include "ticketing/common/metrics.hpp"

namespace ticketing::db::detail {

// db_query_duration_seconds{op}: one observation per statement round trip.
metrics::Histogram& query_duration(const char* op);
// db_errors_total{code}
void count_error(unsigned code);

}  // namespace ticketing::db::detail
