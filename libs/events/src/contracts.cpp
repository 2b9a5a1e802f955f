#include "ticketing/events/contracts.hpp"

#include <rapidjson/document.h>

#include <limits>
#include <type_traits>

#include "ticketing/common/json_writer.hpp"

namespace ticketing::events {

namespace {

// --- writing ---------------------------------------------------------------

template <typename T>
void write_object(JsonWriter& w, const T& value);

template <typename M>
void write_value(JsonWriter& w, const M& value) {
  if constexpr (std::is_same_v<M, std::string>) {
    w.string(value);
  } else if constexpr (std::is_integral_v<M>) {
    w.integer(value);
  } else {  // std::vector of an object type
    w.start_array();
    for (const auto& item : value) write_object(w, item);
    w.end_array();
  }
}

template <typename T>
void write_object(JsonWriter& w, const T& value) {
  w.start_object();
  std::apply([&](const auto&... f) { ((w.key(f.name), write_value(w, value.*(f.member))), ...); },
             T::fields());
  w.end_object();
}

// --- reading ---------------------------------------------------------------

template <typename T>
void read_object(const rapidjson::Value& v, std::string_view where, T& out);

template <typename M>
void read_value(const rapidjson::Value& v, const std::string& where, M& out) {
  if constexpr (std::is_same_v<M, std::string>) {
    if (!v.IsString()) throw PoisonError(where + " must be a string");
    out.assign(v.GetString(), v.GetStringLength());
  } else if constexpr (std::is_integral_v<M>) {
    if (!v.IsInt64()) throw PoisonError(where + " must be an integer");
    const std::int64_t n = v.GetInt64();
    if (n < std::numeric_limits<M>::min() || n > std::numeric_limits<M>::max()) {
      throw PoisonError(where + " is out of range");
    }
    out = static_cast<M>(n);
  } else {
    if (!v.IsArray()) throw PoisonError(where + " must be an array");
    out.clear();
    out.reserve(v.Size());
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      read_object(v[i], where + "[" + std::to_string(i) + "]", out.emplace_back());
    }
  }
}

template <typename T>
void read_object(const rapidjson::Value& v, std::string_view where, T& out) {
  if (!v.IsObject()) throw PoisonError(std::string(where) + " must be an object");
  std::apply(
      [&](const auto&... f) {
        auto one = [&](const auto& fld) {
          const std::string name = std::string(where) + "." + std::string(fld.name);
          auto it = v.FindMember(
              rapidjson::Value(fld.name.data(), static_cast<rapidjson::SizeType>(fld.name.size())));
          if (it == v.MemberEnd()) throw PoisonError(name + " is missing");
          read_value(it->value, name, out.*(fld.member));
        };
        (one(f), ...);
      },
      T::fields());
}

}  // namespace

template <Contract T>
std::string to_data_json(const T& e) {
  JsonWriter w;
  write_object(w, e);
  return w.str();
}

template <Contract T>
T from_data_json(std::string_view data_json) {
  rapidjson::Document doc;
  doc.Parse(data_json.data(), data_json.size());
  if (doc.HasParseError()) {
    throw PoisonError(std::string(T::kType) + ": data is not valid JSON");
  }
  T out;
  read_object(doc, "data", out);
  return out;
}

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

}  // namespace ticketing::events
