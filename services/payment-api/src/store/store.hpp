#pragma once
// SQL of the `payment` schema. The pool's sessions have no default database
// (the host connects before migrations create it), so every statement names
// the schema explicitly.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/wallet.hpp"
#include "ticketing/auth/hold_receipt.hpp"
#include "ticketing/db/migrate.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::db {
class Pool;
class Connection;
}  // namespace ticketing::db

namespace ticketing::payment {

std::vector<db::Migration> migrations();

// A response remembered under an Idempotency-Key.
struct StoredResponse {
  int status = 0;
  std::string body;
};

// An idempotent request: its key and a canonical form of what was asked
// (e.g. "charge:500"); the same key with another fingerprint is a conflict.
struct IdempotentRequest {
  std::string key;
  std::string fingerprint;
};

struct HistoryEntry {
  std::int64_t id = 0;
  std::string kind;  // CHARGE | PAYMENT | REFUND
  std::int64_t amount = 0;
  std::int64_t balance_after = 0;
  std::optional<std::int64_t> payment_id;
  std::int64_t created_at_ms = 0;
};

struct PaymentRecord {
  PaymentId id;
  ReservationId reservation;
  UserId user;
  std::int64_t amount = 0;
  PaymentStatus status = PaymentStatus::kCompleted;
  std::int64_t paid_at_ms = 0;
  std::optional<std::int64_t> refunded_at_ms;
};

// What a payment bought, for the buyer's message: the seat from the hold, the
// show from the reservation.held events seen so far (absent before the first
// of its schedule, e.g. a hold known from its receipt only).
struct PaidSeat {
  std::int64_t schedule_id = 0;
  int seat_no = 0;
  std::optional<std::string> concert_title;
  std::optional<std::string> starts_at;
};

// Result of a charge or payment: an outcome, or a replayed response.
struct ChargeResult {
  Outcome outcome = Outcome::kOk;
  std::int64_t balance = 0;
  std::optional<StoredResponse> replay;
};
struct PayResult {
  Outcome outcome = Outcome::kOk;
  PaymentRecord payment;
  std::int64_t balance_after = 0;
  std::optional<StoredResponse> replay;
};

// What the consumer applies for a confirmation-failed event.
enum class RefundResult {
  kRefunded,
  kAlreadyRefunded,
  kDuplicateEvent,
  kPaymentMissing,
  kPaymentMismatch
};
// The metrics label of a result: "refunded", "already_refunded", ...
std::string_view to_string(RefundResult result);

class Store {
 public:
  Store(db::Pool& pool, std::string database);

  [[nodiscard]] const std::string& database() const { return database_; }

  std::int64_t balance(UserId user);
  // Newest first; entries with id < before (when given).
  std::vector<HistoryEntry> history(UserId user, std::optional<std::int64_t> before, int limit);
  std::optional<PaymentRecord> payment(PaymentId id);
  std::optional<StoredResponse> find_idempotent(UserId user, std::string_view scope,
                                                const IdempotentRequest& req, bool* conflict);

  // Both render their 2xx body inside the transaction so that it is stored
  // with the Idempotency-Key atomically.
  ChargeResult charge(UserId user, std::int64_t amount, std::int64_t max_balance,
                      const std::optional<IdempotentRequest>& idem,
                      const std::function<StoredResponse(std::int64_t balance)>& render);
  // `outbox_rows` builds the payment.completed / notifications rows for the
  // committed payment.
  // `receipt`: the hold as reservation-api signed it; recorded in the read
  // model first unless the hold (or its end) is already known.
  PayResult pay(UserId user, ReservationId reservation,
                const std::optional<auth::HoldClaims>& receipt, std::int64_t now_ms,
                const std::optional<IdempotentRequest>& idem,
                const std::function<std::vector<outbox::OutboxRow>(
                    const PaymentRecord&, std::int64_t balance, const PaidSeat&)>& events,
                const std::function<StoredResponse(const PaymentRecord&)>& render);

  // Read model.
  struct HeldSeat {
    Hold hold;
    std::int64_t schedule_id = 0;
    int seat_no = 0;
    // The show, when the event carries it: kept per schedule (table shows).
    std::optional<std::string> concert_title;
    std::optional<std::string> starts_at;
  };
  // Records holds (one statement) and the shows they name (one statement
  // each; a rush's batch is mostly one show).
  void apply_held_all(const std::vector<HeldSeat>& held);
  void apply_cancelled(ReservationId reservation, UserId user, std::int64_t schedule_id,
                       int seat_no);
  // Compensation, exactly once per event id and per payment.
  RefundResult refund(std::string_view event_id, ReservationId reservation, PaymentId payment,
                      std::string_view reason, std::int64_t now_ms,
                      const std::function<std::vector<outbox::OutboxRow>(
                          const PaymentRecord&, std::int64_t balance)>& events);

 private:
  void ensure_wallet(db::Connection& conn, UserId user);
  void insert_hold(db::Connection& conn, const Hold& hold, std::int64_t schedule_id, int seat_no);
  // Inserts the key's placeholder row; a committed one with the same key is
  // returned instead (or conflict set).
  std::optional<StoredResponse> claim_key(db::Connection& conn, UserId user, std::string_view scope,
                                          const IdempotentRequest& req, bool* conflict);
  void store_key(db::Connection& conn, UserId user, std::string_view scope,
                 const IdempotentRequest& req, const StoredResponse& resp);
  void add_history(db::Connection& conn, UserId user, std::string_view kind, std::int64_t amount,
                   std::int64_t balance_after, std::optional<std::int64_t> payment_id,
                   std::int64_t now_ms);

  db::Pool& pool_;
  std::string database_;
  std::string wallets_, history_, payments_, holds_, shows_, idem_, outbox_, inbox_;
  // The statements (store.cpp names them), made once for this database.
  struct Statements {
    std::string select_balance, lock_wallet, insert_wallet, set_balance, debit;
    std::string select_history, insert_history;
    std::string select_payment, lock_payment_of, insert_payment, refund_payment;
    std::string select_key, share_key, insert_key, update_key;
    std::string lock_hold, insert_hold, cancel_hold, fail_hold;
    std::string select_show, upsert_show;
  };
  Statements sql_;
};

}  // namespace ticketing::payment
