#include "ticketing/redis/reply.hpp"

#include <fmt/format.h>

#include "ticketing/common/error.hpp"

namespace ticketing::redis {

namespace {

const char* type_name(Reply::Type t) {
  switch (t) {
    case Reply::Type::kNil:
      return "nil";
    case Reply::Type::kInteger:
      return "integer";
    case Reply::Type::kString:
      return "string";
    case Reply::Type::kStatus:
      return "status";
    case Reply::Type::kArray:
      return "array";
    case Reply::Type::kError:
      return "error";
  }
  return "?";
}

[[noreturn]] void wrong_type(Reply::Type want, const Reply& got) {
  throw RedisError(fmt::format("expected a {} reply, got {}", type_name(want), got.debug_string()),
                   false);
}

}  // namespace

Reply Reply::integer(std::int64_t v) {
  Reply r;
  r.type_ = Type::kInteger;
  r.integer_ = v;
  return r;
}
Reply Reply::string(std::string v) {
  Reply r;
  r.type_ = Type::kString;
  r.text_ = std::move(v);
  return r;
}
Reply Reply::status(std::string v) {
  Reply r;
  r.type_ = Type::kStatus;
  r.text_ = std::move(v);
  return r;
}
Reply Reply::error(std::string v) {
  Reply r;
  r.type_ = Type::kError;
  r.text_ = std::move(v);
  return r;
}
Reply Reply::array(std::vector<Reply> v) {
  Reply r;
  r.type_ = Type::kArray;
  r.elements_ = std::move(v);
  return r;
}

std::int64_t Reply::as_integer() const {
  if (type_ != Type::kInteger) wrong_type(Type::kInteger, *this);
  return integer_;
}
const std::string& Reply::as_string() const {
  if (type_ != Type::kString) wrong_type(Type::kString, *this);
  return text_;
}
std::optional<std::string> Reply::as_optional_string() const {
  if (type_ == Type::kNil) return std::nullopt;
  return as_string();
}
const std::string& Reply::as_status() const {
  if (type_ != Type::kStatus) wrong_type(Type::kStatus, *this);
  return text_;
}
const std::string& Reply::error_message() const {
  if (type_ != Type::kError) wrong_type(Type::kError, *this);
  return text_;
}
const std::vector<Reply>& Reply::as_array() const {
  if (type_ != Type::kArray) wrong_type(Type::kArray, *this);
  return elements_;
}
std::size_t Reply::size() const {
  return as_array().size();
}
const Reply& Reply::operator[](std::size_t i) const {
  const auto& a = as_array();
  if (i >= a.size()) {
    throw RedisError(fmt::format("array index {} out of range ({} elements)", i, a.size()), false);
  }
  return a[i];
}

std::string Reply::debug_string() const {
  switch (type_) {
    case Type::kNil:
      return "(nil)";
    case Type::kInteger:
      return fmt::format("(integer) {}", integer_);
    case Type::kString:
      return fmt::format("\"{}\"", text_.substr(0, 80));
    case Type::kStatus:
      return text_;
    case Type::kError:
      return "(error) " + text_;
    case Type::kArray: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements_.size(); ++i) {
        if (i > 0) out += ", ";
        out += elements_[i].debug_string();
      }
      return out + "]";
    }
  }
  return "?";
}

}  // namespace ticketing::redis
