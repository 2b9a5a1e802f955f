#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ticketing::db {

// Where and how to connect. Built from MYSQL_URL:
//   mysql://user[:password]@host[:port]/[database][?socket=/path&connect_timeout=3
//            &read_timeout=30&write_timeout=30]
// User and password are percent-decoded.
struct ConnectOptions {
  std::string user;
  std::string password;
  std::string host = "127.0.0.1";
  unsigned port = 3306;
  std::string database;  // empty: no default database
  std::string socket;    // unix socket path; used by the client when host is "localhost"
  std::chrono::seconds connect_timeout{3};
  // Socket read/write timeouts: a statement that waits longer than this on the
  // server (GET_LOCK, long lock waits) fails with a connection error.
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  // Session time_zone '+00:00', so DATETIME values written with NOW() are UTC.
  bool utc_session = true;

  // The URL with the password masked, for logs.
  [[nodiscard]] std::string describe() const;
};

// Throws std::invalid_argument naming the problem (never echoing the password).
ConnectOptions parse_url(std::string_view url);

}  // namespace ticketing::db
