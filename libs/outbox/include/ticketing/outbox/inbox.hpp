#pragma once
// The consumer side of exactly-once effects: a processed-events table in the
// service's own database. A handler records the event id in the same
// transaction as its state change; a redelivered event finds its id already
// there and changes nothing.

#include <string>
#include <string_view>
#include <vector>

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

// record_processed for several events in one statement: true when every one
// is new. False when any was already recorded: the caller must then roll
// back (the new ones were recorded too) and handle them one by one.
bool record_all_processed(db::Connection& conn, std::string_view consumer,
                          const std::vector<std::string>& event_ids,
                          std::string_view table = kDefaultInboxTable);

}  // namespace ticketing::outbox
