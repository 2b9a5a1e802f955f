#pragma once
// The consumer side of exactly-once effects: a processed-events table in the
// service's own database. A handler records the event id in the same
// transaction as its state change; a redelivered event finds its id already
// there and changes nothing.

#include <string>
#include <string_view>

namespace ticketing::db {
class Connection;
}

namespace ticketing::outbox {

inline constexpr std::string_view kDefaultInboxTable = "processed_events";

// CREATE TABLE IF NOT EXISTS, primary key (consumer, event_id).
std::string inbox_create_table_sql(std::string_view table = kDefaultInboxTable);

// Inside the caller's open transaction: true when this is the first time
// `consumer` handles `event_id` (go on and apply the effect), false when it
// was already recorded (a redelivery: apply nothing). Throws DbError;
// std::logic_error outside a transaction.
bool record_processed(db::Connection& conn, std::string_view consumer, std::string_view event_id,
                      std::string_view table = kDefaultInboxTable);

}  // namespace ticketing::outbox
