#include "store/store.hpp"

#include <fmt/format.h>

#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/db/db.hpp"
#include "ticketing/db/retry.hpp"
#include "ticketing/outbox/inbox.hpp"

namespace ticketing::payment {

namespace {

constexpr std::string_view kConsumer = "payment-api";
constexpr int kTxAttempts = 5;

// Every transaction runs again on a deadlock, a lock wait timeout or a lost
// race (db::with_retry), on a fresh lease each time.
template <typename F>
auto with_retry(db::Pool& pool, F&& body) {
  return db::with_retry(pool, kTxAttempts, std::forward<F>(body));
}

PaymentRecord payment_from_row(const db::Row& r) {
  PaymentRecord p;
  p.id = PaymentId{r.i64("id")};
  p.reservation = ReservationId{r.i64("reservation_id")};
  p.user = UserId{r.i64("user_id")};
  p.amount = r.i64("amount");
  p.status = parse_payment_status(r.str("status")).value_or(PaymentStatus::kCompleted);
  p.paid_at_ms = r.i64("paid_at_ms");
  p.refunded_at_ms = r.opt_i64("refunded_at_ms");
  return p;
}

constexpr std::string_view kPaymentCols =
    "id, reservation_id, user_id, amount, status, paid_at_ms, refunded_at_ms";

// Every statement of the store, named once. {wallets}, {history},
// {payments}, {holds}, {idem} and {payment_cols} are filled in when the store
// is built (the schema-qualified tables of this database), never per call.
constexpr std::string_view kSelectBalance =
    R"sql(SELECT balance FROM {wallets} WHERE user_id = ?)sql";
constexpr std::string_view kLockWallet =
    R"sql(SELECT balance FROM {wallets} WHERE user_id = ? FOR UPDATE)sql";
constexpr std::string_view kInsertWallet =
    R"sql(INSERT IGNORE INTO {wallets} (user_id, balance, updated_at_ms) VALUES (?, 0, ?))sql";
constexpr std::string_view kSetBalance =
    R"sql(UPDATE {wallets} SET balance = ?, updated_at_ms = ? WHERE user_id = ?)sql";
constexpr std::string_view kDebit =
    R"sql(UPDATE {wallets} SET balance = balance - ?, updated_at_ms = ?
 WHERE user_id = ? AND balance >= ?)sql";
constexpr std::string_view kSelectHistory =
    R"sql(SELECT id, kind, amount, balance_after, payment_id, created_at_ms FROM {history}
 WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?)sql";
constexpr std::string_view kInsertHistory =
    R"sql(INSERT INTO {history} (user_id, kind, amount, balance_after, payment_id, created_at_ms)
 VALUES (?, ?, ?, ?, ?, ?))sql";
constexpr std::string_view kSelectPayment =
    R"sql(SELECT {payment_cols} FROM {payments} WHERE id = ?)sql";
constexpr std::string_view kLockPaymentOf =
    R"sql(SELECT {payment_cols} FROM {payments} WHERE reservation_id = ? FOR UPDATE)sql";
constexpr std::string_view kInsertPayment =
    R"sql(INSERT INTO {payments} (reservation_id, user_id, amount, status, paid_at_ms)
 VALUES (?, ?, ?, 'COMPLETED', ?))sql";
constexpr std::string_view kRefundPayment =
    R"sql(UPDATE {payments} SET status = 'REFUNDED', refunded_at_ms = ?, refund_reason = ?
 WHERE id = ? AND status = 'COMPLETED')sql";
constexpr std::string_view kSelectKey =
    R"sql(SELECT fingerprint, status, body FROM {idem} WHERE user_id = ? AND scope = ? AND idem_key = ?)sql";
constexpr std::string_view kShareKey =
    R"sql(SELECT fingerprint, status, body FROM {idem} WHERE user_id = ? AND scope = ? AND idem_key = ?
 LOCK IN SHARE MODE)sql";
constexpr std::string_view kInsertKey =
    R"sql(INSERT INTO {idem} (user_id, scope, idem_key, fingerprint, status, body, created_at_ms)
 VALUES (?, ?, ?, ?, 0, '', ?))sql";
constexpr std::string_view kUpdateKey =
    R"sql(UPDATE {idem} SET status = ?, body = ? WHERE user_id = ? AND scope = ? AND idem_key = ?)sql";
// The hold, then its payment if any (uq_reservation: at most one), both
// locked in that order by one statement: one round trip instead of two.
constexpr std::string_view kLockHold =
    R"sql(SELECT h.user_id, h.price, h.expires_at_ms, h.status, p.status AS payment_status,
 h.schedule_id, h.seat_no
 FROM {holds} h LEFT JOIN {payments} p ON p.reservation_id = h.reservation_id
 WHERE h.reservation_id = ? FOR UPDATE)sql";
// A redelivered or late held (or a receipt) never revives a hold that
// already ended.
constexpr std::string_view kInsertHold =
    R"sql(INSERT IGNORE INTO {holds} (reservation_id, user_id, schedule_id, seat_no, price,
 expires_at_ms, status, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'HELD', ?))sql";
constexpr std::string_view kCancelHold =
    R"sql(INSERT INTO {holds} (reservation_id, user_id, schedule_id, seat_no, price, expires_at_ms,
 status, updated_at_ms) VALUES (?, ?, ?, ?, 0, 0, 'CANCELLED', ?)
 ON DUPLICATE KEY UPDATE status = IF(status = 'HELD', 'CANCELLED', status),
 updated_at_ms = VALUES(updated_at_ms))sql";
// The shows (schedule -> concert title and start) as reservation.held tells
// them; read without a lock: a title is not worth serializing payments on.
constexpr std::string_view kSelectShow =
    R"sql(SELECT concert_title, starts_at FROM {shows} WHERE schedule_id = ?)sql";
constexpr std::string_view kUpsertShow =
    R"sql(INSERT INTO {shows} (schedule_id, concert_title, starts_at, updated_at_ms)
 VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE concert_title = VALUES(concert_title),
 starts_at = VALUES(starts_at), updated_at_ms = VALUES(updated_at_ms))sql";
constexpr std::string_view kFailHold =
    R"sql(UPDATE {holds} SET status = 'CONFIRMATION_FAILED', updated_at_ms = ? WHERE reservation_id = ?)sql";

}  // namespace

std::vector<db::Migration> migrations() {
  return {
      {1, "wallets, history, payments, holds, idempotency keys",
       "CREATE TABLE IF NOT EXISTS wallets ("
       " user_id BIGINT NOT NULL PRIMARY KEY,"
       " balance BIGINT NOT NULL DEFAULT 0,"
       " updated_at_ms BIGINT NOT NULL,"
       " CONSTRAINT wallets_balance_non_negative CHECK (balance >= 0)"
       ") ENGINE=InnoDB;"
       "CREATE TABLE IF NOT EXISTS point_history ("
       " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
       " user_id BIGINT NOT NULL,"
       " kind ENUM('CHARGE','PAYMENT','REFUND') NOT NULL,"
       " amount BIGINT NOT NULL,"
       " balance_after BIGINT NOT NULL,"
       " payment_id BIGINT NULL,"
       " created_at_ms BIGINT NOT NULL,"
       " KEY idx_user_id (user_id, id)"
       ") ENGINE=InnoDB;"
       "CREATE TABLE IF NOT EXISTS payments ("
       " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
       " reservation_id BIGINT NOT NULL,"
       " user_id BIGINT NOT NULL,"
       " amount BIGINT NOT NULL,"
       " status ENUM('COMPLETED','REFUNDED') NOT NULL,"
       " paid_at_ms BIGINT NOT NULL,"
       " refunded_at_ms BIGINT NULL,"
       " refund_reason VARCHAR(32) NULL,"
       " UNIQUE KEY uq_reservation (reservation_id),"
       " KEY idx_user (user_id)"
       ") ENGINE=InnoDB;"
       "CREATE TABLE IF NOT EXISTS holds ("
       " reservation_id BIGINT NOT NULL PRIMARY KEY,"
       " user_id BIGINT NOT NULL,"
       " schedule_id BIGINT NOT NULL,"
       " seat_no INT NOT NULL,"
       " price BIGINT NOT NULL,"
       " expires_at_ms BIGINT NOT NULL,"
       " status ENUM('HELD','CANCELLED','CONFIRMATION_FAILED') NOT NULL,"
       " updated_at_ms BIGINT NOT NULL"
       ") ENGINE=InnoDB;"
       "CREATE TABLE IF NOT EXISTS idempotency_keys ("
       " user_id BIGINT NOT NULL,"
       " scope VARCHAR(16) NOT NULL,"
       " idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
       " fingerprint VARCHAR(128) NOT NULL,"
       " status INT NOT NULL,"
       " body TEXT NOT NULL,"
       " created_at_ms BIGINT NOT NULL,"
       " PRIMARY KEY (user_id, scope, idem_key)"
       ") ENGINE=InnoDB"},
      {2, "outbox", outbox::create_table_sql("outbox")},
      {3, "processed events", outbox::inbox_create_table_sql("processed_events")},
      // For pruning by age (outbox::Pruner): a range scan over old keys only.
      {4, "idempotency keys by age",
       "ALTER TABLE idempotency_keys ADD INDEX IF NOT EXISTS idx_created_at (created_at_ms)"},
      // For the buyer's "Payment completed": which concert a schedule is.
      {5, "shows",
       "CREATE TABLE IF NOT EXISTS shows ("
       " schedule_id BIGINT NOT NULL PRIMARY KEY,"
       " concert_title VARCHAR(200) NOT NULL,"
       " starts_at VARCHAR(40) NOT NULL,"
       " updated_at_ms BIGINT NOT NULL"
       ") ENGINE=InnoDB"},
  };
}

Store::Store(db::Pool& pool, std::string database) : pool_(pool), database_(std::move(database)) {
  auto q = [&](std::string_view t) {
    return outbox::quote_table(database_ + "." + std::string(t));
  };
  wallets_ = q("wallets");
  history_ = q("point_history");
  payments_ = q("payments");
  holds_ = q("holds");
  shows_ = q("shows");
  idem_ = q("idempotency_keys");
  outbox_ = database_ + ".outbox";
  inbox_ = database_ + ".processed_events";
  auto statement = [&](std::string_view text) {
    return fmt::format(fmt::runtime(text), fmt::arg("wallets", wallets_),
                       fmt::arg("history", history_), fmt::arg("payments", payments_),
                       fmt::arg("holds", holds_), fmt::arg("shows", shows_),
                       fmt::arg("idem", idem_), fmt::arg("payment_cols", kPaymentCols));
  };
  sql_ = Statements{statement(kSelectBalance), statement(kLockWallet),    statement(kInsertWallet),
                    statement(kSetBalance),    statement(kDebit),         statement(kSelectHistory),
                    statement(kInsertHistory), statement(kSelectPayment), statement(kLockPaymentOf),
                    statement(kInsertPayment), statement(kRefundPayment), statement(kSelectKey),
                    statement(kShareKey),      statement(kInsertKey),     statement(kUpdateKey),
                    statement(kLockHold),      statement(kInsertHold),    statement(kCancelHold),
                    statement(kFailHold),      statement(kSelectShow),    statement(kUpsertShow)};
}

std::int64_t Store::balance(UserId user) {
  auto lease = pool_.acquire();
  auto row = lease->query_one(sql_.select_balance, {user.value});
  return row ? row->i64(0) : 0;
}

std::vector<HistoryEntry> Store::history(UserId user, std::optional<std::int64_t> before,
                                         int limit) {
  auto lease = pool_.acquire();
  auto rows =
      lease->query(sql_.select_history,
                   {user.value, before.value_or(std::numeric_limits<std::int64_t>::max()), limit});
  std::vector<HistoryEntry> out;
  out.reserve(rows.size());
  for (const auto& r : rows)
    out.push_back({r.i64(0), r.str(1), r.i64(2), r.i64(3), r.opt_i64(4), r.i64(5)});
  return out;
}

std::optional<PaymentRecord> Store::payment(PaymentId id) {
  auto lease = pool_.acquire();
  auto row = lease->query_one(sql_.select_payment, {id.value});
  if (!row) return std::nullopt;
  return payment_from_row(*row);
}

std::optional<StoredResponse> Store::find_idempotent(UserId user, std::string_view scope,
                                                     const IdempotentRequest& req, bool* conflict) {
  auto lease = pool_.acquire();
  auto row = lease->query_one(sql_.select_key, {user.value, scope, req.key});
  *conflict = false;
  if (!row || row->i64(1) == 0) return std::nullopt;
  if (row->str(0) != req.fingerprint) {
    *conflict = true;
    return std::nullopt;
  }
  return StoredResponse{static_cast<int>(row->i64(1)), row->str(2)};
}

void Store::ensure_wallet(db::Connection& conn, UserId user) {
  // Autocommitted on its own, outside the caller's transaction: creating the
  // row inside it would take gap/shared locks that deadlock concurrent
  // first charges of the same user.
  conn.exec(sql_.insert_wallet, {user.value, now_unix_millis()});
}

std::optional<StoredResponse> Store::claim_key(db::Connection& conn, UserId user,
                                               std::string_view scope, const IdempotentRequest& req,
                                               bool* conflict) {
  *conflict = false;
  try {
    // A concurrent request with the same key blocks here on the unique key
    // until the first one commits (then: duplicate) or rolls back (then: ours).
    conn.exec(sql_.insert_key, {user.value, scope, req.key, req.fingerprint, now_unix_millis()});
    return std::nullopt;
  } catch (const DbError& e) {
    if (!db::is_duplicate_key(e)) throw;
  }
  auto row = conn.query_one(sql_.share_key, {user.value, scope, req.key});
  if (!row) throw db::RaceLost("idempotency key vanished");
  if (row->str(0) != req.fingerprint) {
    *conflict = true;
    return std::nullopt;
  }
  return StoredResponse{static_cast<int>(row->i64(1)), row->str(2)};
}

void Store::store_key(db::Connection& conn, UserId user, std::string_view scope,
                      const IdempotentRequest& req, const StoredResponse& resp) {
  conn.exec(sql_.update_key, {resp.status, resp.body, user.value, scope, req.key});
}

void Store::add_history(db::Connection& conn, UserId user, std::string_view kind,
                        std::int64_t amount, std::int64_t balance_after,
                        std::optional<std::int64_t> payment_id, std::int64_t now_ms) {
  conn.exec(sql_.insert_history, {user.value, kind, amount, balance_after, payment_id, now_ms});
}

ChargeResult Store::charge(UserId user, std::int64_t amount, std::int64_t max_balance,
                           const std::optional<IdempotentRequest>& idem,
                           const std::function<StoredResponse(std::int64_t)>& render) {
  return with_retry(pool_, [&](db::Connection& conn) -> ChargeResult {
    ensure_wallet(conn, user);
    db::Transaction tx(conn, db::Isolation::kReadCommitted);
    if (idem) {
      bool conflict = false;
      if (auto replay = claim_key(conn, user, "charge", *idem, &conflict))
        return {Outcome::kOk, 0, replay};
      if (conflict) return {Outcome::kIdempotencyConflict, 0, std::nullopt};
    }
    auto row = conn.query_one(sql_.lock_wallet, {user.value});
    if (!row) throw db::RaceLost("wallet row missing");
    auto decision = decide_charge(row->i64(0), amount, max_balance);
    if (decision.outcome != Outcome::kOk) return {decision.outcome, row->i64(0), std::nullopt};
    auto now = now_unix_millis();
    conn.exec(sql_.set_balance, {decision.new_balance, now, user.value});
    add_history(conn, user, "CHARGE", amount, decision.new_balance, std::nullopt, now);
    if (idem) store_key(conn, user, "charge", *idem, render(decision.new_balance));
    tx.commit();
    return {Outcome::kOk, decision.new_balance, std::nullopt};
  });
}

PayResult Store::pay(UserId user, ReservationId reservation,
                     const std::optional<auth::HoldClaims>& receipt, std::int64_t now_ms,
                     const std::optional<IdempotentRequest>& idem,
                     const std::function<std::vector<outbox::OutboxRow>(
                         const PaymentRecord&, std::int64_t, const PaidSeat&)>& events,
                     const std::function<StoredResponse(const PaymentRecord&)>& render) {
  return with_retry(pool_, [&](db::Connection& conn) -> PayResult {
    // No ensure_wallet (one round trip less): a payer has charged points
    // before, and a missing wallet reads as a balance of 0.
    db::Transaction tx(conn, db::Isolation::kReadCommitted);
    PayResult result;
    if (idem) {
      bool conflict = false;
      if (auto replay = claim_key(conn, user, "payment", *idem, &conflict)) {
        result.replay = replay;
        return result;
      }
      if (conflict) {
        result.outcome = Outcome::kIdempotencyConflict;
        return result;
      }
    }
    // Lock order everywhere: idempotency key, hold, payment, wallet.
    if (receipt) {
      insert_hold(conn,
                  Hold{reservation, UserId{receipt->user_id}, receipt->price,
                       receipt->expires_at_ms, HoldStatus::kHeld},
                  receipt->schedule_id, receipt->seat_no);
    }
    auto hold_row = conn.query_one(sql_.lock_hold, {reservation.value});
    if (!hold_row) {
      result.outcome = Outcome::kReservationNotFound;
      return result;
    }
    Hold hold{reservation, UserId{hold_row->i64(0)}, hold_row->i64(1), hold_row->i64(2),
              parse_hold_status(hold_row->str(3)).value_or(HoldStatus::kCancelled)};
    std::optional<PaymentStatus> existing;
    if (auto status = hold_row->opt_str(4)) existing = parse_payment_status(*status);
    auto wallet = conn.query_one(sql_.lock_wallet, {user.value});
    std::int64_t balance = wallet ? wallet->i64(0) : 0;
    result.outcome = decide_payment(hold, user, existing, balance, now_ms);
    if (result.outcome != Outcome::kOk) return result;
    if (!wallet) {
      // Only a hold priced 0 gets here: make the wallet outside this
      // transaction (see ensure_wallet), then run it again.
      tx.rollback();
      ensure_wallet(conn, user);
      throw db::RaceLost("wallet created for a payment");
    }

    std::int64_t after = balance - hold.price;
    conn.exec(sql_.debit, {hold.price, now_ms, user.value, hold.price});
    db::ExecResult ins;
    try {
      ins = conn.exec(sql_.insert_payment, {reservation.value, user.value, hold.price, now_ms});
    } catch (const DbError& e) {
      if (!db::is_duplicate_key(e)) throw;
      result.outcome = Outcome::kAlreadyPaid;
      return result;
    }
    result.payment = PaymentRecord{PaymentId{static_cast<std::int64_t>(ins.last_insert_id)},
                                   reservation,
                                   user,
                                   hold.price,
                                   PaymentStatus::kCompleted,
                                   now_ms,
                                   std::nullopt};
    result.balance_after = after;
    add_history(conn, user, "PAYMENT", hold.price, after, result.payment.id.value, now_ms);
    PaidSeat seat{hold_row->i64("schedule_id"), static_cast<int>(hold_row->i64("seat_no")),
                  std::nullopt, std::nullopt};
    if (auto show = conn.query_one(sql_.select_show, {seat.schedule_id})) {
      seat.concert_title = show->str(0);
      seat.starts_at = show->str(1);
    }
    outbox::append_all(conn, events(result.payment, after, seat), outbox_);
    if (idem) store_key(conn, user, "payment", *idem, render(result.payment));
    tx.commit();
    return result;
  });
}

void Store::insert_hold(db::Connection& conn, const Hold& hold, std::int64_t schedule_id,
                        int seat_no) {
  // A redelivered or late held (or a receipt) never revives a hold that
  // already ended.
  conn.exec(sql_.insert_hold, {hold.reservation.value, hold.user.value, schedule_id, seat_no,
                               hold.price, hold.expires_at_ms, now_unix_millis()});
}

void Store::apply_held_all(const std::vector<HeldSeat>& held) {
  if (held.empty()) return;
  // The single-row statement with one more VALUES tuple per hold; INSERT
  // IGNORE skips each known hold on its own.
  std::string sql = sql_.insert_hold;
  db::Params params;
  params.reserve(held.size() * 7);
  const auto now = now_unix_millis();
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (i > 0) sql += ", (?, ?, ?, ?, ?, ?, 'HELD', ?)";
    const Hold& h = held[i].hold;
    params.insert(params.end(), {h.reservation.value, h.user.value, held[i].schedule_id,
                                 held[i].seat_no, h.price, h.expires_at_ms, now});
  }
  // The shows these holds name, each schedule once (a rush's batch is mostly
  // one show).
  std::map<std::int64_t, const HeldSeat*> shows;
  for (const auto& h : held)
    if (h.concert_title && h.starts_at) shows[h.schedule_id] = &h;
  with_retry(pool_, [&](db::Connection& conn) {
    conn.exec(sql, params);
    for (const auto& [schedule, h] : shows)
      conn.exec(sql_.upsert_show, {schedule, *h->concert_title, *h->starts_at, now});
    return 0;
  });
}

void Store::apply_cancelled(ReservationId reservation, UserId user, std::int64_t schedule_id,
                            int seat_no) {
  with_retry(pool_, [&](db::Connection& conn) {
    conn.exec(sql_.cancel_hold,
              {reservation.value, user.value, schedule_id, seat_no, now_unix_millis()});
    return 0;
  });
}

std::string_view to_string(RefundResult result) {
  switch (result) {
    case RefundResult::kRefunded:
      return "refunded";
    case RefundResult::kAlreadyRefunded:
      return "already_refunded";
    case RefundResult::kDuplicateEvent:
      return "duplicate_event";
    case RefundResult::kPaymentMissing:
      return "payment_missing";
    case RefundResult::kPaymentMismatch:
      return "payment_mismatch";
  }
  return "unknown";
}

RefundResult Store::refund(
    std::string_view event_id, ReservationId reservation, PaymentId payment_id,
    std::string_view reason, std::int64_t now_ms,
    const std::function<std::vector<outbox::OutboxRow>(const PaymentRecord&, std::int64_t)>&
        events) {
  return with_retry(pool_, [&](db::Connection& conn) -> RefundResult {
    db::Transaction tx(conn, db::Isolation::kReadCommitted);
    if (!outbox::record_processed(conn, kConsumer, event_id, inbox_)) {
      tx.commit();
      return RefundResult::kDuplicateEvent;
    }
    conn.exec(sql_.fail_hold, {now_ms, reservation.value});
    auto row = conn.query_one(sql_.lock_payment_of, {reservation.value});
    // Rolled back (processed record included) so that a retry starts afresh.
    if (!row) return RefundResult::kPaymentMissing;
    auto p = payment_from_row(*row);
    if (p.id != payment_id) return RefundResult::kPaymentMismatch;
    if (p.status == PaymentStatus::kRefunded) {
      tx.commit();
      return RefundResult::kAlreadyRefunded;
    }
    auto changed = conn.exec(sql_.refund_payment, {now_ms, reason, p.id.value});
    if (changed.affected_rows != 1) {
      tx.commit();
      return RefundResult::kAlreadyRefunded;
    }
    // The payer's wallet exists: the payment created it.
    auto wallet = conn.query_one(sql_.lock_wallet, {p.user.value});
    if (!wallet) throw DbError("wallet of a payer missing", false);
    std::int64_t after = wallet->i64(0) + p.amount;
    conn.exec(sql_.set_balance, {after, now_ms, p.user.value});
    add_history(conn, p.user, "REFUND", p.amount, after, p.id.value, now_ms);
    p.status = PaymentStatus::kRefunded;
    p.refunded_at_ms = now_ms;
    outbox::append_all(conn, events(p, after), outbox_);
    tx.commit();
    return RefundResult::kRefunded;
  });
}

}  // namespace ticketing::payment
