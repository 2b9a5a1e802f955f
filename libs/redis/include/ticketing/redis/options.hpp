#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ticketing::redis {

// Built from REDIS_URL: redis://[[user]:password@]host[:port][/db]
struct RedisOptions {
  std::string host = "127.0.0.1";
  unsigned port = 6379;
  std::string user;  // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  // Per command (socket send/receive); a timeout resets the connection.
  std::chrono::milliseconds command_timeout{1000};

  [[nodiscard]] std::string describe() const;  // password masked
};

// Throws std::invalid_argument (never echoing the password).
RedisOptions parse_url(std::string_view url);

}  // namespace ticketing::redis
