#pragma once
// What the rush must leave behind, read from where it really is: the two
// services' databases, the fake data platform and webhook (what they
// received), and Kafka (consumer-group lag, new dead letters).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rush.hpp"

namespace ticketing::rush {

struct SystemUnderTest {
  std::string mysql_url;
  std::string reservation_db = "reservation";
  std::string payment_db = "payment";
  std::string dataplatform_control_url;  // tools/fake-peer control port
  std::string webhook_control_url;       // fake generic webhook; empty = not checked
  std::string kafka_bootstrap;
  // Consumer group of each consuming service (service name -> group id).
  std::map<std::string, std::string> groups = {{"reservation-api", "reservation-api"},
                                               {"payment-api", "payment-api"},
                                               {"seat-expiry-scheduler", "seat-expiry-scheduler"},
                                               {"dataplatform-relay", "dataplatform-relay"},
                                               {"notification-worker", "notification-worker"}};
};

// The topics each service consumes (docs/architecture.md).
const std::map<std::string, std::vector<std::string>>& subscriptions();

// End offsets of every consumed topic and every DLQ when the rush starts:
// lag of partitions a group never committed, and new dead letters, are
// measured from here.
struct Baseline {
  std::map<std::string, std::vector<std::int64_t>> end_offsets;  // topic -> per partition
  std::int64_t charges = 0;  // points charged before the rush (a reused database)
};
Baseline take_baseline(const SystemUnderTest& sut);

// Commits the current end offsets for every group of `sut` on the topics it
// consumes (events::commit_group_at_end), before any member joins: a new
// group then starts exactly at the rush's beginning, not at the topics'
// history, even if a member dies before its first commit.
void start_groups_at_end(const SystemUnderTest& sut);

std::int64_t count_seats(const SystemUnderTest& sut);

struct Tally {
  std::int64_t seats = 0, reserved_seats = 0, held_seats = 0, stale_held_seats = 0;
  std::int64_t confirmed = 0, expired = 0, cancelled = 0, held = 0, stale_holds = 0;
  std::int64_t double_sold = 0, reserved_without_confirmation = 0, seats_kept_by_dead_holds = 0;
  std::int64_t charges = 0, payments = 0, refunds = 0, balances = 0;
  std::int64_t charges_before = 0;
  std::int64_t payments_completed = 0, payments_refunded = 0;
  std::int64_t completed_not_confirmed = 0, refunded_but_confirmed = 0;
  std::int64_t delivered = 0, delivered_unknown = 0, delivery_attempts = 0;
  std::int64_t notified_reservations = 0, notified_payments = 0, notified_refunds = 0,
               notifications_received = 0;
  // "Seat held" and "hold expired" messages (distinct events) the webhook received.
  std::int64_t notified_holds = 0, notified_expiries = 0;
  std::int64_t notified_turns = 0;  // "your turn": admitted after waiting in the queue
  // Buyers who saw WAITING and were let in (the rush's count; settle sets it):
  // each is owed a "your turn". Buyers who gave up waiting may be let in
  // afterwards and told too, so more messages than this is no error.
  std::int64_t turns_owed = 0;
  // Every hold, expiry and refund told to its buyer (true when the webhook is not checked).
  [[nodiscard]] bool buyers_told() const;
  std::int64_t confirmed_not_delivered = 0, confirmed_not_notified = 0;
  bool platform_checked = false, webhook_checked = false;  // their fakes were given
  std::map<std::string, std::int64_t> lag;                 // group -> records behind
  std::map<std::string, std::int64_t> dead_letters;        // DLQ topic -> new records
  [[nodiscard]] std::int64_t total_lag() const;
  [[nodiscard]] std::int64_t total_dead_letters() const;
};

// Records ever written to each topic (the sum of its partitions' end
// offsets) in the environment of `prefix` (TOPIC_PREFIX, namespace.hpp);
// -1 for a topic that environment does not have.
std::map<std::string, std::int64_t> topic_end_offsets(const std::string& bootstrap,
                                                      const std::vector<std::string>& topics,
                                                      const std::string& prefix);

Tally measure(const SystemUnderTest& sut, const Baseline& base);

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

// Waits (up to `limit`) until the system is quiet: no hold left past its
// expiry, every group caught up, every confirmation delivered and notified.
// Then measures once more and returns that tally.
Tally settle(const SystemUnderTest& sut, const Baseline& base, const RushResult& rush,
             std::chrono::seconds limit,
             const std::function<void(const std::string&)>& progress = {});

// The invariants of a rush: no seat sold twice, reserved = confirmed =
// delivered = notified, expired holds free again, points conserved, lag 0,
// no dead letters, and what the buyers saw agrees with the databases.
std::vector<Check> check_invariants(const Tally& t, const RushResult& rush);

}  // namespace ticketing::rush
