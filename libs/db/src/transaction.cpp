// The RAII transaction over a Connection: rolled back unless committed.
#include "ticketing/common/error.hpp"
#include "ticketing/db/connection.hpp"

namespace ticketing::db {

namespace {
const char* start_sql(Isolation isolation) {
  switch (isolation) {
    case Isolation::kReadCommitted:
      return "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION";
    case Isolation::kRepeatableRead:
      return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION";
    case Isolation::kSerializable:
      return "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION";
    case Isolation::kDefault:
      break;
  }
  return "START TRANSACTION";
}
}  // namespace

Transaction::Transaction(Connection& conn, Isolation isolation) : conn_(conn) {
  conn_.begin(start_sql(isolation));
}

Transaction::~Transaction() {
  if (!open_) return;
  try {
    if (!conn_.broken()) conn_.rollback();
  } catch (...) {
    // The session may still hold the transaction: make sure nobody reuses it.
    conn_.invalidate();
  }
}

void Transaction::commit() {
  if (!open_) throw DbError("transaction already finished", false);
  // Once COMMIT was sent the transaction is over whatever the outcome: an
  // error here means "unknown" (connection lost) or "rolled back".
  open_ = false;
  conn_.commit();
}

void Transaction::rollback() {
  if (!open_) return;
  open_ = false;
  conn_.rollback();
}

}  // namespace ticketing::db
