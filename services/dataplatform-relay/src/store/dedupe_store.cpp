#include "store/dedupe_store.hpp"

#include "ticketing/redis/pool.hpp"

namespace ticketing::relay {

bool DedupeStore::delivered(std::int64_t reservation_id) {
  return pool_.command({"EXISTS", key(reservation_id)}).as_integer() > 0;
}

void DedupeStore::mark_delivered(std::int64_t reservation_id) {
  pool_.command({"SET", key(reservation_id), "1", "EX", std::to_string(ttl_.count())});
}

}  // namespace ticketing::relay
