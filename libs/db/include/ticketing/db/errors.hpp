#pragma once

#include "ticketing/common/error.hpp"

namespace ticketing::db {

// Server and client error codes that callers map to outcomes. DbError::code()
// carries the server (1xxx, 4xxx) or client (2xxx) error number.
inline constexpr unsigned kErDupEntry = 1062;
inline constexpr unsigned kErDupEntryWithKeyName = 1586;
inline constexpr unsigned kErLockWaitTimeout = 1205;
inline constexpr unsigned kErLockDeadlock = 1213;

// Deadlock, lock wait timeout, lost/refused connection, server shutdown, too
// many connections, killed connection: worth retrying (the whole transaction).
[[nodiscard]] bool is_retryable_code(unsigned code) noexcept;
// The connection can no longer be used (lost, killed, timed out).
[[nodiscard]] bool is_connection_error_code(unsigned code) noexcept;

// Unique constraint violation: a business outcome (already paid, already
// processed), not a fault.
[[nodiscard]] bool is_duplicate_key(const DbError& e) noexcept;
[[nodiscard]] inline bool is_deadlock(const DbError& e) noexcept {
  return e.code() == kErLockDeadlock;
}

}  // namespace ticketing::db
