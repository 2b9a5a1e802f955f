#pragma once
// Private: the one reader and writer of every contract (contracts.hpp),
// driven by each struct's fields(). contracts.cpp instantiates them for
// AllContracts; tests may instantiate them for a struct of their own.

#include <rapidjson/document.h>

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "ticketing/common/error.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/events/contracts.hpp"

namespace ticketing::events {

namespace detail {

template <typename M>
struct IsOptional : std::false_type {};
template <typename M>
struct IsOptional<std::optional<M>> : std::true_type {};

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
  std::apply(
      [&](const auto&... f) {
        auto one = [&](const auto& fld) {
          const auto& member = value.*(fld.member);
          using M = std::decay_t<decltype(member)>;
          if constexpr (IsOptional<M>::value) {
            if (member) write_value(w.key(fld.name), *member);  // absent: not written
          } else {
            write_value(w.key(fld.name), member);
          }
        };
        (one(f), ...);
      },
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
          auto& member = out.*(fld.member);
          using M = std::decay_t<decltype(member)>;
          if constexpr (IsOptional<M>::value) {
            // An optional field (not in the schema's `required`): absent or null is nullopt.
            if (it == v.MemberEnd() || it->value.IsNull()) {
              member.reset();
            } else {
              read_value(it->value, name, member.emplace());
            }
          } else {
            if (it == v.MemberEnd()) throw PoisonError(name + " is missing");
            read_value(it->value, name, member);
          }
        };
        (one(f), ...);
      },
      T::fields());
}

}  // namespace detail

template <Contract T>
std::string to_data_json(const T& e) {
  JsonWriter w;
  detail::write_object(w, e);
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
  detail::read_object(doc, "data", out);
  return out;
}

}  // namespace ticketing::events
