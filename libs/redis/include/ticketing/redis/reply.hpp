#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ticketing::redis {

// A RESP2 reply, copied out of hiredis. Accessors throw RedisError (not
// retryable) when the reply has another type.
class Reply {
 public:
  // kError only appears inside arrays (EXEC) and in pipeline() results:
  // command() throws on a top-level error reply.
  enum class Type { kNil, kInteger, kString, kStatus, kArray, kError };

  Reply() = default;  // nil
  static Reply integer(std::int64_t v);
  static Reply string(std::string v);
  static Reply status(std::string v);
  static Reply error(std::string v);
  static Reply array(std::vector<Reply> v);

  [[nodiscard]] Type type() const noexcept { return type_; }
  [[nodiscard]] bool is_nil() const noexcept { return type_ == Type::kNil; }
  [[nodiscard]] bool is_integer() const noexcept { return type_ == Type::kInteger; }
  [[nodiscard]] bool is_string() const noexcept { return type_ == Type::kString; }
  [[nodiscard]] bool is_status() const noexcept { return type_ == Type::kStatus; }
  [[nodiscard]] bool is_array() const noexcept { return type_ == Type::kArray; }
  [[nodiscard]] bool is_error() const noexcept { return type_ == Type::kError; }

  [[nodiscard]] std::int64_t as_integer() const;
  // Bulk string (binary-safe).
  [[nodiscard]] const std::string& as_string() const;
  // nullopt for nil, else the bulk string.
  [[nodiscard]] std::optional<std::string> as_optional_string() const;
  [[nodiscard]] const std::string& as_status() const;
  [[nodiscard]] const std::string& error_message() const;
  [[nodiscard]] const std::vector<Reply>& as_array() const;

  // Array convenience.
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] const Reply& operator[](std::size_t i) const;

  // For logs and test failure messages.
  [[nodiscard]] std::string debug_string() const;

 private:
  Type type_ = Type::kNil;
  std::int64_t integer_ = 0;
  std::string text_;  // string, status or error
  std::vector<Reply> elements_;
};

}  // namespace ticketing::redis
