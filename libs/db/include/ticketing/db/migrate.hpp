#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ticketing::db {

class Pool;

struct Migration {
  int version;       // unique, applied in ascending order
  std::string name;  // recorded for humans
  std::string sql;   // one or more ';'-separated statements
};

// Creates `database` if missing, then applies every migration whose version is
// not yet in `database`.schema_migrations, in version order, each exactly once.
// Processes that start together serialize on GET_LOCK('migrations:<database>').
// DDL is not transactional in MariaDB: a migration that fails half-way is not
// recorded and is retried in full next time, so write statements that can run
// twice (IF NOT EXISTS). Returns how many migrations this call applied. Throws
// DbError, or std::invalid_argument for duplicate versions or a bad name.
int apply_migrations(Pool& pool, std::string_view database, std::vector<Migration> migrations);

// `name` quoted as a MariaDB identifier (backticks doubled).
std::string quote_identifier(std::string_view name);

}  // namespace ticketing::db
