#include "ticketing/db/value.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "ticketing/common/error.hpp"

namespace ticketing::db {

namespace {

[[noreturn]] void conversion_error(const std::string& what) {
  throw DbError(what, false);
}

template <typename T>
T parse_number(const std::string& s, const char* type) {
  T v{};
  const char* first = s.data();
  const char* last = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec == std::errc() && ptr == last) return v;
  // DECIMAL columns and SUM() come back as text such as "12.00".
  if constexpr (std::is_integral_v<T>) {
    double d = 0;
    auto [p2, e2] = std::from_chars(first, last, d);
    if (e2 == std::errc() && p2 == last && std::trunc(d) == d &&
        d >= static_cast<double>(std::numeric_limits<T>::min()) &&
        d <= static_cast<double>(std::numeric_limits<T>::max())) {
      return static_cast<T>(d);
    }
  }
  conversion_error(fmt::format("value '{}' is not a valid {}", s.substr(0, 64), type));
}

}  // namespace

std::int64_t Value::as_i64() const {
  switch (type()) {
    case Type::kNull:
      conversion_error("NULL where an integer was expected");
    case Type::kInt:
      return std::get<std::int64_t>(v_);
    case Type::kUInt: {
      auto u = std::get<std::uint64_t>(v_);
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        conversion_error(fmt::format("{} does not fit in int64", u));
      }
      return static_cast<std::int64_t>(u);
    }
    case Type::kDouble: {
      double d = std::get<double>(v_);
      if (std::trunc(d) != d || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18) {
        conversion_error(fmt::format("{} is not an int64", d));
      }
      return static_cast<std::int64_t>(d);
    }
    case Type::kString:
      return parse_number<std::int64_t>(std::get<std::string>(v_), "int64");
  }
  conversion_error("bad value");
}

std::uint64_t Value::as_u64() const {
  switch (type()) {
    case Type::kNull:
      conversion_error("NULL where an integer was expected");
    case Type::kInt: {
      auto i = std::get<std::int64_t>(v_);
      if (i < 0) conversion_error(fmt::format("{} does not fit in uint64", i));
      return static_cast<std::uint64_t>(i);
    }
    case Type::kUInt:
      return std::get<std::uint64_t>(v_);
    case Type::kDouble: {
      double d = std::get<double>(v_);
      if (std::trunc(d) != d || d < 0 || d >= 1.8446744073709552e19) {
        conversion_error(fmt::format("{} is not a uint64", d));
      }
      return static_cast<std::uint64_t>(d);
    }
    case Type::kString:
      return parse_number<std::uint64_t>(std::get<std::string>(v_), "uint64");
  }
  conversion_error("bad value");
}

double Value::as_double() const {
  switch (type()) {
    case Type::kNull:
      conversion_error("NULL where a number was expected");
    case Type::kInt:
      return static_cast<double>(std::get<std::int64_t>(v_));
    case Type::kUInt:
      return static_cast<double>(std::get<std::uint64_t>(v_));
    case Type::kDouble:
      return std::get<double>(v_);
    case Type::kString:
      return parse_number<double>(std::get<std::string>(v_), "number");
  }
  conversion_error("bad value");
}

std::string Value::as_string() const {
  switch (type()) {
    case Type::kNull:
      conversion_error("NULL where a string was expected");
    case Type::kInt:
      return std::to_string(std::get<std::int64_t>(v_));
    case Type::kUInt:
      return std::to_string(std::get<std::uint64_t>(v_));
    case Type::kDouble:
      return fmt::format("{}", std::get<double>(v_));
    case Type::kString:
      return std::get<std::string>(v_);
  }
  conversion_error("bad value");
}

const Value& Row::at(std::size_t col) const {
  if (col >= values_.size()) {
    throw DbError(fmt::format("column index {} out of range ({} columns)", col, values_.size()),
                  false);
  }
  return values_[col];
}

const Value& Row::at(std::string_view name) const {
  for (std::size_t i = 0; i < columns_->size() && i < values_.size(); ++i) {
    if ((*columns_)[i] == name) return values_[i];
  }
  throw DbError(fmt::format("no column named '{}'", name), false);
}

namespace {
template <typename T, typename F>
std::optional<T> opt(const Value& v, F f) {
  if (v.is_null()) return std::nullopt;
  return (v.*f)();
}
}  // namespace

std::optional<std::int64_t> Row::opt_i64(std::size_t c) const {
  return opt<std::int64_t>(at(c), &Value::as_i64);
}
std::optional<std::int64_t> Row::opt_i64(std::string_view n) const {
  return opt<std::int64_t>(at(n), &Value::as_i64);
}
std::optional<std::uint64_t> Row::opt_u64(std::size_t c) const {
  return opt<std::uint64_t>(at(c), &Value::as_u64);
}
std::optional<std::uint64_t> Row::opt_u64(std::string_view n) const {
  return opt<std::uint64_t>(at(n), &Value::as_u64);
}
std::optional<double> Row::opt_f64(std::size_t c) const {
  return opt<double>(at(c), &Value::as_double);
}
std::optional<double> Row::opt_f64(std::string_view n) const {
  return opt<double>(at(n), &Value::as_double);
}
std::optional<std::string> Row::opt_str(std::size_t c) const {
  return opt<std::string>(at(c), &Value::as_string);
}
std::optional<std::string> Row::opt_str(std::string_view n) const {
  return opt<std::string>(at(n), &Value::as_string);
}

}  // namespace ticketing::db
