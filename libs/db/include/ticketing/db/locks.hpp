#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ticketing::db {

class Connection;

// MariaDB user-level locks (GET_LOCK) belong to the session: they are released
// when the connection closes or dies, which makes them a leader lease that
// expires with its holder. Names are limited to 64 characters; longer names
// are shortened deterministically (prefix + hash).
[[nodiscard]] std::string fit_lock_name(std::string_view name);

// GET_LOCK(name, timeout): true when acquired (or already held by this
// session), false on timeout. The timeout must stay below the connection's
// read timeout. Throws DbError.
bool get_lock(Connection& conn, std::string_view name, std::chrono::seconds timeout);
// RELEASE_LOCK(name): true when this session held it.
bool release_lock(Connection& conn, std::string_view name);

}  // namespace ticketing::db
