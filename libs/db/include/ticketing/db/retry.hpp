#pragma once

// Running a whole transaction again when it lost a lock conflict. InnoDB
// breaks a deadlock by rolling back one of the transactions (1213), and a lock
// wait that outlasts innodb_lock_wait_timeout fails the statement (1205).
// Both are transient: the same transaction, run again from the start, usually
// succeeds. A caller should not see them as an error while attempts remain.

#include <exception>
#include <stdexcept>
#include <string>

#include "ticketing/common/error.hpp"
#include "ticketing/db/errors.hpp"
#include "ticketing/db/pool.hpp"

namespace ticketing::db {

// Thrown from a transaction body that found the database in a state another
// transaction is about to change (a row it just saw created is gone, a row
// that must exist is not there yet): run the whole body again, as after a
// deadlock. Out of attempts it becomes a retryable DbError (503 at the edge).
class RaceLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A lock conflict (deadlock or lock wait timeout): the transaction was rolled
// back and may be run again.
[[nodiscard]] inline bool is_lock_conflict(const DbError& e) noexcept {
  return e.code() == kErLockDeadlock || e.code() == kErLockWaitTimeout;
}

namespace detail {
// Counts db_transaction_retries_total{reason} and logs the retry.
void note_retry(const char* reason, const char* what);
}  // namespace detail

// Runs body(Connection&) on a fresh lease, again on a lock conflict or a
// RaceLost, `attempts` times in all. The body opens and commits its own
// transaction, so a retried run starts from nothing (the failed one was
// rolled back when its Transaction and lease went away). Any other error, and
// the last conflict, goes to the caller. Only lock conflicts are retried
// here: after a lost connection the outcome of a COMMIT is unknown, and
// running the body again could apply it twice.
template <typename Body>
auto with_retry(Pool& pool, int attempts, Body&& body) {
  for (int attempt = 1;; ++attempt) {
    try {
      auto lease = pool.acquire();
      return body(*lease);
    } catch (const DbError& e) {
      if (!is_lock_conflict(e) || attempt >= attempts) throw;
      detail::note_retry(e.code() == kErLockDeadlock ? "deadlock" : "lock_wait_timeout", e.what());
    } catch (const RaceLost& e) {
      if (attempt >= attempts) throw DbError(e.what(), true);
      detail::note_retry("race_lost", e.what());
    }
  }
}

}  // namespace ticketing::db
