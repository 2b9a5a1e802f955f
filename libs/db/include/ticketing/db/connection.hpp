#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "ticketing/db/errors.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/db/value.hpp"

namespace ticketing::db {

struct ExecResult {
  // Rows changed (not merely matched): a conditional UPDATE that finds its row
  // already in the target state reports 0.
  std::uint64_t affected_rows = 0;
  std::uint64_t last_insert_id = 0;
};

// One MariaDB session: autocommit on, utf8mb4, no automatic reconnect (a
// reconnect would silently drop session state such as named locks and open
// transactions; the pool replaces broken connections instead). Statements are
// prepared once per connection and cached by SQL text. Not thread-safe: one
// thread at a time (the pool hands out leases).
//
// Every failure throws DbError with the server/client error code. After a
// connection-level error, broken() is true and the object should be dropped.
class Connection {
 public:
  explicit Connection(ConnectOptions options);  // connects; throws DbError
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepared statement with '?' placeholders. A statement that returns rows
  // has them discarded.
  ExecResult exec(std::string_view sql, const Params& params = {});
  // Prepared statement returning rows, fully buffered.
  Rows query(std::string_view sql, const Params& params = {});
  // First row or nullopt.
  std::optional<Row> query_one(std::string_view sql, const Params& params = {});
  // Text protocol, several ';'-separated statements allowed (DDL, migrations).
  // Result sets are discarded; affected rows are those of the last statement.
  // Never build this SQL from untrusted input.
  ExecResult exec_raw(std::string_view sql);

  // Round trip to the server; throws DbError (and marks broken) when it fails.
  void ping();

  [[nodiscard]] bool broken() const noexcept;
  // Marks the connection broken: every later call throws and a pool closes it.
  void invalidate() noexcept;
  // Cheap local check, no round trip: false when broken or when the server has
  // already closed the socket (KILL, wait_timeout, server restart).
  [[nodiscard]] bool looks_alive() const noexcept;
  // The server's connection id (CONNECTION_ID()), e.g. for KILL.
  [[nodiscard]] std::uint64_t server_id() const noexcept;
  // True while a transaction is open on the server side.
  [[nodiscard]] bool in_transaction() const noexcept;
  [[nodiscard]] const ConnectOptions& options() const noexcept;

  // Plain transaction control; prefer Transaction.
  void begin(std::string_view start_sql = "START TRANSACTION");
  void commit();
  void rollback();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class Isolation { kDefault, kReadCommitted, kRepeatableRead, kSerializable };

// Begins on construction; rolls back in the destructor unless committed. If
// the rollback fails the connection is marked broken so that a pool drops it
// rather than reuse a session with an open transaction.
class Transaction {
 public:
  explicit Transaction(Connection& conn, Isolation isolation = Isolation::kDefault);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit();
  void rollback();
  [[nodiscard]] Connection& connection() noexcept { return conn_; }

 private:
  Connection& conn_;
  bool open_ = true;
};

}  // namespace ticketing::db
