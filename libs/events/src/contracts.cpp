#include "ticketing/events/contracts.hpp"

#include "contract_json.hpp"

namespace ticketing::events {

// Every contract of AllContracts (contracts_tests.cpp checks the list).
template std::string to_data_json<ReservationHeld>(const ReservationHeld&);
template ReservationHeld from_data_json<ReservationHeld>(std::string_view);
template std::string to_data_json<ReservationConfirmed>(const ReservationConfirmed&);
template ReservationConfirmed from_data_json<ReservationConfirmed>(std::string_view);
template std::string to_data_json<ReservationConfirmationFailed>(
    const ReservationConfirmationFailed&);
template ReservationConfirmationFailed from_data_json<ReservationConfirmationFailed>(
    std::string_view);
template std::string to_data_json<ReservationCancelled>(const ReservationCancelled&);
template ReservationCancelled from_data_json<ReservationCancelled>(std::string_view);
template std::string to_data_json<PaymentCompleted>(const PaymentCompleted&);
template PaymentCompleted from_data_json<PaymentCompleted>(std::string_view);
template std::string to_data_json<PaymentRefunded>(const PaymentRefunded&);
template PaymentRefunded from_data_json<PaymentRefunded>(std::string_view);
template std::string to_data_json<SeatsExpired>(const SeatsExpired&);
template SeatsExpired from_data_json<SeatsExpired>(std::string_view);
template std::string to_data_json<PaymentCompletedNote>(const PaymentCompletedNote&);
template PaymentCompletedNote from_data_json<PaymentCompletedNote>(std::string_view);
template std::string to_data_json<ReservationCompletedNote>(const ReservationCompletedNote&);
template ReservationCompletedNote from_data_json<ReservationCompletedNote>(std::string_view);
template std::string to_data_json<PaymentRefundedNote>(const PaymentRefundedNote&);
template PaymentRefundedNote from_data_json<PaymentRefundedNote>(std::string_view);
template std::string to_data_json<ReservationConfirmedNote>(const ReservationConfirmedNote&);
template ReservationConfirmedNote from_data_json<ReservationConfirmedNote>(std::string_view);
template std::string to_data_json<HoldExpiredNote>(const HoldExpiredNote&);
template HoldExpiredNote from_data_json<HoldExpiredNote>(std::string_view);
template std::string to_data_json<QueueAdmittedNote>(const QueueAdmittedNote&);
template QueueAdmittedNote from_data_json<QueueAdmittedNote>(std::string_view);

}  // namespace ticketing::events
