#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ticketing::db {

// One SQL value: a statement parameter or a result cell. Integers keep their
// signedness (BIGINT UNSIGNED columns come back as uint64); DECIMAL, temporal
// and text columns come back as strings.
class Value {
 public:
  enum class Type { kNull, kInt, kUInt, kDouble, kString };
  using Storage = std::variant<std::monostate, std::int64_t, std::uint64_t, double, std::string>;

  Value() = default;                              // NULL
  Value(std::nullptr_t) {}                        // NOLINT(google-explicit-constructor)
  Value(std::nullopt_t) {}                        // NOLINT(google-explicit-constructor)
  Value(bool v) : v_(std::int64_t{v ? 1 : 0}) {}  // NOLINT(google-explicit-constructor)
  template <std::signed_integral T>
  Value(T v) : v_(static_cast<std::int64_t>(v)) {}  // NOLINT(google-explicit-constructor)
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Value(T v)
      : v_(static_cast<std::uint64_t>(v)) {}         // NOLINT(google-explicit-constructor)
  Value(double v) : v_(v) {}                         // NOLINT(google-explicit-constructor)
  Value(std::string v) : v_(std::move(v)) {}         // NOLINT(google-explicit-constructor)
  Value(std::string_view v) : v_(std::string(v)) {}  // NOLINT(google-explicit-constructor)
  Value(const char* v) : v_(std::string(v)) {}       // NOLINT(google-explicit-constructor)
  template <typename T>
  Value(const std::optional<T>& v) {  // NOLINT(google-explicit-constructor)
    if (v) *this = Value(*v);
  }

  [[nodiscard]] Type type() const noexcept { return static_cast<Type>(v_.index()); }
  [[nodiscard]] bool is_null() const noexcept { return v_.index() == 0; }
  [[nodiscard]] const Storage& storage() const noexcept { return v_; }

  // Conversions; throw DbError (not retryable) on NULL, on a value that does
  // not fit, or on text that is not a number.
  [[nodiscard]] std::int64_t as_i64() const;
  [[nodiscard]] std::uint64_t as_u64() const;
  [[nodiscard]] double as_double() const;
  // Numbers are formatted; text is returned as stored (binary-safe).
  [[nodiscard]] std::string as_string() const;

  bool operator==(const Value&) const = default;

 private:
  Storage v_;
};

using Params = std::vector<Value>;

// One result row. Columns are addressed by index or by (case-sensitive) name.
class Row {
 public:
  Row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<Value> values)
      : columns_(std::move(columns)), values_(std::move(values)) {}

  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  [[nodiscard]] const Value& at(std::size_t col) const;
  [[nodiscard]] const Value& at(std::string_view name) const;

  [[nodiscard]] bool is_null(std::size_t col) const { return at(col).is_null(); }
  [[nodiscard]] bool is_null(std::string_view name) const { return at(name).is_null(); }
  [[nodiscard]] std::int64_t i64(std::size_t col) const { return at(col).as_i64(); }
  [[nodiscard]] std::int64_t i64(std::string_view name) const { return at(name).as_i64(); }
  [[nodiscard]] std::uint64_t u64(std::size_t col) const { return at(col).as_u64(); }
  [[nodiscard]] std::uint64_t u64(std::string_view name) const { return at(name).as_u64(); }
  [[nodiscard]] double f64(std::size_t col) const { return at(col).as_double(); }
  [[nodiscard]] double f64(std::string_view name) const { return at(name).as_double(); }
  [[nodiscard]] std::string str(std::size_t col) const { return at(col).as_string(); }
  [[nodiscard]] std::string str(std::string_view name) const { return at(name).as_string(); }

  // nullopt for NULL, otherwise as above.
  [[nodiscard]] std::optional<std::int64_t> opt_i64(std::size_t col) const;
  [[nodiscard]] std::optional<std::int64_t> opt_i64(std::string_view name) const;
  [[nodiscard]] std::optional<std::uint64_t> opt_u64(std::size_t col) const;
  [[nodiscard]] std::optional<std::uint64_t> opt_u64(std::string_view name) const;
  [[nodiscard]] std::optional<double> opt_f64(std::size_t col) const;
  [[nodiscard]] std::optional<double> opt_f64(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> opt_str(std::size_t col) const;
  [[nodiscard]] std::optional<std::string> opt_str(std::string_view name) const;

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<Value> values_;
};

// A fully buffered result set.
class Rows {
 public:
  Rows() : columns_(std::make_shared<const std::vector<std::string>>()) {}
  Rows(std::shared_ptr<const std::vector<std::string>> columns, std::vector<Row> rows)
      : columns_(std::move(columns)), rows_(std::move(rows)) {}

  [[nodiscard]] const std::vector<std::string>& columns() const noexcept { return *columns_; }
  [[nodiscard]] std::size_t size() const noexcept { return rows_.size(); }
  [[nodiscard]] bool empty() const noexcept { return rows_.empty(); }
  [[nodiscard]] const Row& operator[](std::size_t i) const { return rows_[i]; }
  [[nodiscard]] const Row& front() const { return rows_.front(); }
  [[nodiscard]] auto begin() const noexcept { return rows_.begin(); }
  [[nodiscard]] auto end() const noexcept { return rows_.end(); }

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<Row> rows_;
};

}  // namespace ticketing::db
