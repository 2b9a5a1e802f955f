#include "ticketing/outbox/inbox.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "ticketing/db/connection.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::outbox {

std::string inbox_create_table_sql(std::string_view table) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} ("
      " consumer VARCHAR(64) NOT NULL,"
      " event_id CHAR(36) NOT NULL,"
      " processed_at DATETIME(3) NOT NULL,"
      " PRIMARY KEY (consumer, event_id),"
      " KEY idx_processed_at (processed_at)"
      ") ENGINE=InnoDB DEFAULT CHARSET=ascii",
      quote_table(table));
}

bool record_processed(db::Connection& conn, std::string_view consumer, std::string_view event_id,
                      std::string_view table) {
  return record_all_processed(conn, consumer, {std::string(event_id)}, table);
}

bool record_all_processed(db::Connection& conn, std::string_view consumer,
                          const std::vector<std::string>& event_ids, std::string_view table) {
  if (!conn.in_transaction())
    throw std::logic_error("record_processed must run inside the handler's transaction");
  if (event_ids.empty()) return true;
  std::string sql =
      fmt::format("INSERT INTO {} (consumer, event_id, processed_at) VALUES ", quote_table(table));
  db::Params params;
  params.reserve(event_ids.size() * 2);
  for (std::size_t i = 0; i < event_ids.size(); ++i) {
    sql += i == 0 ? "(?, ?, NOW(3))" : ", (?, ?, NOW(3))";
    params.emplace_back(consumer);
    params.emplace_back(event_ids[i]);
  }
  // Not INSERT IGNORE: that would also swallow real errors (truncation). A
  // duplicate key turns into a no-op update, which reports 0 affected rows;
  // each new row reports 1.
  sql += " ON DUPLICATE KEY UPDATE event_id = event_id";
  return conn.exec(sql, params).affected_rows == event_ids.size();
}

}  // namespace ticketing::outbox
