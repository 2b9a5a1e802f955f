#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ticketing::db {
class Connection;
}

namespace ticketing::outbox {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One event waiting to be published: exactly what goes on the wire.
struct OutboxRow {
  std::string topic;
  std::string key;      // record key (aggregate id); empty: null key
  std::string payload;  // the event envelope JSON
  Headers headers;      // e.g. event-type, traceparent
};

inline constexpr std::string_view kDefaultTable = "outbox";

// CREATE TABLE IF NOT EXISTS for an outbox table. `table` is a plain or
// schema-qualified name ("outbox", "reservation.outbox"). The (sent_at, id)
// index serves both "unsent rows in id order" (sent_at IS NULL, then the
// primary key order) and the retention delete. parked_at / park_error mark a
// row the relay could never publish (it stays unsent and is skipped).
std::string create_table_sql(std::string_view table = kDefaultTable);
// Brings a table made by an older create_table_sql up to date (adds the
// parking columns); can run any number of times. The relay also applies it
// itself when it takes the lead on a table that lacks the columns.
std::string upgrade_table_sql(std::string_view table = kDefaultTable);

// Inserts the row on `conn`, which must be inside the caller's open
// transaction (Transaction): the state change and its event commit or roll
// back together. Throws DbError; std::logic_error outside a transaction.
// Returns the row id. Call Relay::notify() after the commit for low latency.
std::uint64_t append(db::Connection& conn, const OutboxRow& row,
                     std::string_view table = kDefaultTable);
// The rows in their order, one statement per 16 rows instead of one per row
// (consecutive ids, so the relay publishes them in this order).
void append_all(db::Connection& conn, const std::vector<OutboxRow>& rows,
                std::string_view table = kDefaultTable);

// The `headers` column: a JSON object {"name": "value", ...}.
std::string headers_to_json(const Headers& headers);
// Throws std::invalid_argument when the text is not a JSON object of strings.
Headers headers_from_json(std::string_view json);

// `table` quoted for SQL (each part of a schema-qualified name in backticks).
std::string quote_table(std::string_view table);

}  // namespace ticketing::outbox
