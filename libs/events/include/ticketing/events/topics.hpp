#pragma once
// The event topics, named once. Each is also its event type (envelope.hpp) and
// has a schema in proto-schemas/ and a line in deploy/topics.manifest
// (tests/events/unit/manifest_tests.cpp holds them together). Dead-letter
// topics: dlq_topic_for() in dlq.hpp.

#include <array>
#include <string_view>

namespace ticketing::events::topics {

inline constexpr std::string_view kReservationHeld = "reservation.held";
inline constexpr std::string_view kReservationConfirmed = "reservation.confirmed";
inline constexpr std::string_view kReservationConfirmationFailed =
    "reservation.confirmation-failed";
inline constexpr std::string_view kReservationCancelled = "reservation.cancelled";
inline constexpr std::string_view kPaymentCompleted = "payment.completed";
inline constexpr std::string_view kPaymentRefunded = "payment.refunded";
inline constexpr std::string_view kSeatsExpired = "seats.expired";
inline constexpr std::string_view kNotifyPaymentCompleted = "notifications.payment-completed";
inline constexpr std::string_view kNotifyReservationCompleted =
    "notifications.reservation-completed";
inline constexpr std::string_view kNotifyPaymentRefunded = "notifications.payment-refunded";
inline constexpr std::string_view kNotifyReservationConfirmed =
    "notifications.reservation-confirmed";
inline constexpr std::string_view kNotifyHoldExpired = "notifications.hold-expired";
inline constexpr std::string_view kNotifyQueueAdmitted = "notifications.queue-admitted";

// The one dead-letter topic that is not "<topic>.dlq": every notifications.*.
inline constexpr std::string_view kNotificationsDlq = "notifications.dlq";

inline constexpr std::array<std::string_view, 13> kAll = {
    kReservationHeld,       kReservationConfirmed,       kReservationConfirmationFailed,
    kReservationCancelled,  kPaymentCompleted,           kPaymentRefunded,
    kSeatsExpired,          kNotifyPaymentCompleted,     kNotifyReservationCompleted,
    kNotifyPaymentRefunded, kNotifyReservationConfirmed, kNotifyHoldExpired,
    kNotifyQueueAdmitted};

}  // namespace ticketing::events::topics
