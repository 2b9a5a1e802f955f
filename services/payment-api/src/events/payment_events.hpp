#pragma once
// What payment-api publishes (through its outbox) and consumes.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "store/store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::outbox {
class Relay;
}

namespace ticketing::payment {

inline constexpr std::string_view kServiceName = "payment-api";

// payment.completed (key reservationId) + notifications.payment-completed (key userId,
// with the seat and, when known, the show).
std::vector<outbox::OutboxRow> payment_completed_rows(const PaymentRecord& p,
                                                      std::int64_t balance_after,
                                                      const PaidSeat& seat,
                                                      const std::string& trace_id);
// payment.refunded (key reservationId) + notifications.payment-refunded (key userId).
std::vector<outbox::OutboxRow> payment_refunded_rows(const PaymentRecord& p,
                                                     std::int64_t balance_after,
                                                     std::string_view reason,
                                                     const std::string& trace_id);

// Handles reservation.held / .cancelled / .confirmation-failed.
class ReservationEventHandler {
 public:
  ReservationEventHandler(Store& store, outbox::Relay& relay,
                          std::vector<std::string> trusted_producers)
      : store_(store), relay_(relay), trusted_(std::move(trusted_producers)) {}
  void operator()(const events::Event& event);
  // events::BatchHandler: a lane of reservation.held records from trusted
  // producers, recorded in one statement; declines anything else.
  bool batch(const std::vector<events::Event>& events);

 private:
  bool trusts(const std::string& producer) const {
    return trusted_.empty() ||
           std::find(trusted_.begin(), trusted_.end(), producer) != trusted_.end();
  }

  Store& store_;
  outbox::Relay& relay_;
  std::vector<std::string> trusted_;
};

}  // namespace ticketing::payment
