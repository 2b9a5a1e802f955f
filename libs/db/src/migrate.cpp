#include "ticketing/db/migrate.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "ticketing/common/log.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/locks.hpp"
#include "ticketing/db/pool.hpp"

namespace ticketing::db {

std::string quote_identifier(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  out += '`';
  return out;
}

namespace {

constexpr std::chrono::seconds kLockWaitStep{5};
constexpr std::chrono::seconds kLockWaitTotal{300};

class LockReleaser {
 public:
  LockReleaser(Connection& conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  ~LockReleaser() {
    try {
      release_lock(conn_, name_);
    } catch (...) {  // the lock dies with the session anyway
    }
  }
  LockReleaser(const LockReleaser&) = delete;
  LockReleaser& operator=(const LockReleaser&) = delete;

 private:
  Connection& conn_;
  std::string name_;
};

}  // namespace

int apply_migrations(Pool& pool, std::string_view database, std::vector<Migration> migrations) {
  if (database.empty() || database.size() > 64 || database.find('\0') != std::string_view::npos) {
    throw std::invalid_argument(fmt::format("bad database name '{}'", database));
  }
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version == migrations[i - 1].version) {
      throw std::invalid_argument(
          fmt::format("duplicate migration version {}", migrations[i].version));
    }
  }

  // A dedicated session: it switches default database and holds the named
  // lock, neither of which should leak into pooled connections.
  ConnectOptions options = pool.options().connect;
  options.database.clear();
  options.read_timeout = std::max(options.read_timeout, kLockWaitStep * 2);
  Connection conn(options);
  const std::string db = quote_identifier(database);
  conn.exec_raw("CREATE DATABASE IF NOT EXISTS " + db +
                " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");

  const std::string lock = "migrations:" + std::string(database);
  const auto give_up = std::chrono::steady_clock::now() + kLockWaitTotal;
  while (!get_lock(conn, lock, kLockWaitStep)) {
    if (std::chrono::steady_clock::now() > give_up) {
      throw DbError(fmt::format("timed out waiting for lock '{}'", lock), true);
    }
    log::info("migrations: waiting for another process", {{"database", database}});
  }
  LockReleaser releaser(conn, lock);

  conn.exec_raw("USE " + db);
  conn.exec_raw(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INT NOT NULL PRIMARY KEY,"
      " name VARCHAR(255) NOT NULL,"
      " applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
      ") ENGINE=InnoDB");
  std::map<int, std::string> applied;
  for (const Row& row : conn.query("SELECT version, name FROM schema_migrations")) {
    applied.emplace(static_cast<int>(row.i64(0)), row.str(1));
  }

  int count = 0;
  for (const Migration& m : migrations) {
    if (auto it = applied.find(m.version); it != applied.end()) {
      if (it->second != m.name) {
        log::warn("migrations: applied version has another name",
                  {{"database", database},
                   {"version", std::to_string(m.version)},
                   {"applied_name", it->second},
                   {"name", m.name}});
      }
      continue;
    }
    log::info("migrations: applying",
              {{"database", database}, {"version", std::to_string(m.version)}, {"name", m.name}});
    conn.exec_raw(m.sql);
    conn.exec("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", {m.version, m.name});
    ++count;
  }
  return count;
}

}  // namespace ticketing::db
