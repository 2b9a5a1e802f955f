#include "ticketing/outbox/outbox.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "ticketing/db/connection.hpp"
#include "ticketing/db/migrate.hpp"

namespace ticketing::outbox {

std::string quote_table(std::string_view table) {
  if (table.empty()) throw std::invalid_argument("empty outbox table name");
  if (auto dot = table.find('.'); dot != std::string_view::npos) {
    return db::quote_identifier(table.substr(0, dot)) + "." +
           db::quote_identifier(table.substr(dot + 1));
  }
  return db::quote_identifier(table);
}

std::string create_table_sql(std::string_view table) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
      "  topic VARCHAR(249) NOT NULL,\n"
      "  msg_key VARCHAR(255) NOT NULL DEFAULT '',\n"
      "  payload MEDIUMTEXT NOT NULL,\n"
      "  headers TEXT NOT NULL,\n"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n"
      "  sent_at DATETIME(3) NULL DEFAULT NULL,\n"
      "  parked_at DATETIME(3) NULL DEFAULT NULL,\n"
      "  park_error VARCHAR(1024) NULL DEFAULT NULL,\n"
      "  KEY idx_outbox_sent_id (sent_at, id),\n"
      "  KEY idx_outbox_parked (parked_at)\n"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
      quote_table(table));
}

std::string upgrade_table_sql(std::string_view table) {
  // Nullable columns appended at the end (an instant ALTER in MariaDB 10.3+),
  // and an index so that counting parked rows never scans the backlog.
  return fmt::format(
      "ALTER TABLE {} ADD COLUMN IF NOT EXISTS parked_at DATETIME(3) NULL DEFAULT NULL, "
      "ADD COLUMN IF NOT EXISTS park_error VARCHAR(1024) NULL DEFAULT NULL, "
      "ADD INDEX IF NOT EXISTS idx_outbox_parked (parked_at)",
      quote_table(table));
}

std::string headers_to_json(const Headers& headers) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : headers) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Headers headers_from_json(std::string_view json) {
  Headers out;
  if (json.empty()) return out;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    throw std::invalid_argument("outbox headers are not a JSON object");
  }
  for (const auto& m : doc.GetObject()) {
    if (!m.value.IsString()) throw std::invalid_argument("outbox header values must be strings");
    out.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                     std::string(m.value.GetString(), m.value.GetStringLength()));
  }
  return out;
}

namespace {

void check_appendable(const db::Connection& conn, const OutboxRow& row) {
  if (!conn.in_transaction()) {
    throw std::logic_error(
        "outbox::append outside a transaction: the event would not commit "
        "atomically with the state change");
  }
  if (row.topic.empty()) throw std::invalid_argument("outbox row without a topic");
}

// INSERT of `n` rows (at most kRowsPerInsert, so that few statement texts
// exist to prepare).
std::string insert_sql(std::string_view table, std::size_t n) {
  std::string sql =
      fmt::format("INSERT INTO {} (topic, msg_key, payload, headers) VALUES ", quote_table(table));
  for (std::size_t i = 0; i < n; ++i) sql += i == 0 ? "(?, ?, ?, ?)" : ", (?, ?, ?, ?)";
  return sql;
}

constexpr std::size_t kRowsPerInsert = 16;

}  // namespace

std::uint64_t append(db::Connection& conn, const OutboxRow& row, std::string_view table) {
  check_appendable(conn, row);
  const auto result = conn.exec(insert_sql(table, 1),
                                {row.topic, row.key, row.payload, headers_to_json(row.headers)});
  return result.last_insert_id;
}

void append_all(db::Connection& conn, const std::vector<OutboxRow>& rows, std::string_view table) {
  for (const auto& row : rows) check_appendable(conn, row);
  for (std::size_t from = 0; from < rows.size(); from += kRowsPerInsert) {
    const std::size_t n = std::min(kRowsPerInsert, rows.size() - from);
    db::Params params;
    params.reserve(n * 4);
    for (std::size_t i = from; i < from + n; ++i) {
      params.emplace_back(rows[i].topic);
      params.emplace_back(rows[i].key);
      params.emplace_back(rows[i].payload);
      params.emplace_back(headers_to_json(rows[i].headers));
    }
    conn.exec(insert_sql(table, n), params);
  }
}

}  // namespace ticketing::outbox
