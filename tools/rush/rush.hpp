#pragma once
// The ticket-open rush: N simulated buyers go through the public HTTP APIs
// only (ID token from the identity provider, queue token, wait for admission,
// browse, hold, charge, pay), with a
// share who never pay and a share who pay in the last moment of their hold.
// A fixed pool of threads drives every buyer as a small state machine, so
// thousands of buyers are in the system at once.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ticketing::rush {

enum class Endpoint : std::uint8_t {
  kIdToken,  // the development identity provider, not the system under test
  kToken,
  kQueueStatus,
  kQueueWait,  // a long poll of the queue status: its time is waiting, by design
  kConcerts,
  kSchedules,
  kSeats,
  kHold,
  kCharge,
  kPay,
  kReservation,
  kPayment,
  kCount
};
const char* to_string(Endpoint e);

struct RushConfig {
  std::vector<std::string> reservation_urls;  // base URLs; each buyer sticks to one
  std::vector<std::string> payment_urls;
  // The development identity provider (tools/dev-idp): each buyer first gets
  // an ID token there, as a real client signs in with its provider.
  std::string idp_url;
  // Each buyer presents its own client address in X-Forwarded-For (the APIs
  // trust it from loopback in development mode), as buyers from many
  // addresses would reach them through a proxy.
  bool forwarded_for = true;
  int users = 2000;
  std::int64_t first_user_id = 1;
  int threads = 48;
  double never_pay_share = 0.10;  // hold a seat and walk away: the hold expires
  double late_pay_share = 0.05;   // pay within the last `late_window` of the hold
  std::chrono::milliseconds late_window{120};
  std::chrono::milliseconds poll_interval{1000};  // queue status polling
  // Waiting buyers long-poll their place (GET /v1/queue/status?waitSeconds=
  // this&position=1: answered on admission or at the deadline); 0 = poll
  // every poll_interval or more instead. At most max_long_polls at once
  // (one connection each); beyond, buyers poll.
  std::chrono::seconds long_poll{20};
  std::size_t max_long_polls = 12000;
  std::chrono::seconds patience{20};      // an admitted buyer looks this long for a free seat
  std::chrono::seconds confirm_wait{60};  // how long a payer watches for the outcome
  std::chrono::seconds time_limit{900};
  // 5xx answers and transport errors a buyer retries (every 250 ms) before
  // giving up; fault tests raise it to outlast an outage.
  int max_errors = 60;
  std::int64_t total_seats = 0;  // > 0: waiting buyers leave once this many are confirmed
  std::uint64_t seed = 1;
  std::chrono::milliseconds progress_every{1000};
  std::function<void(const std::string&)> on_progress;  // one line per period
  // Stops the rush early (e.g. a test's deadline); checked between steps.
  const std::atomic<bool>* cancel = nullptr;
};

struct Sample {
  std::uint32_t at_ms;  // start, since the rush began
  std::uint32_t took_us;
  Endpoint endpoint;
  std::uint16_t status;  // 0 = transport error
};

struct Counters {
  std::int64_t users = 0, tokens = 0, admitted = 0, hold_attempts = 0, holds = 0, conflicts = 0,
               charges = 0, charged_points = 0, payments = 0, payments_refused = 0, confirmed = 0,
               refunded = 0, never_paid = 0, late_payers = 0, gave_up = 0, lapsed = 0,
               left_queue_sold_out = 0, throttled = 0,  // 429 answers, retried after a pause
      admitted_after_waiting = 0,  // of admitted: answered WAITING first (owed a "your turn")
      transport_errors = 0, server_errors = 0,
               server_errors_not_503 = 0,  // of server_errors: anything but "retry later"
      unexpected = 0;
};

struct RushResult {
  Counters counters;
  double seconds = 0;
  double sold_out_at = -1;     // seconds into the rush when the last seat was confirmed
  double first_token_at = -1;  // seconds into the rush when the first queue token was issued
  std::vector<Sample> samples;
  std::vector<std::int64_t> confirmed_reservations;  // as seen by the buyers
  std::vector<std::int64_t> refunded_payments;
  std::vector<std::string> problems;  // unexpected answers, first few of each kind
  bool timed_out = false;
  std::size_t long_polls_peak = 0;  // most long polls out at once
};

RushResult run_rush(const RushConfig& config);

}  // namespace ticketing::rush
