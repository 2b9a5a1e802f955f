#include "ticketing/common/json_writer.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "ticketing/common/utf8.hpp"

namespace ticketing {

// RapidJSON's Writer only asserts on misuse (compiled out in release
// builds), so the sequence is checked here before anything reaches it.
struct JsonWriter::Impl {
  enum class Frame { kObjectExpectKey, kObjectExpectValue, kArray };
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  std::vector<Frame> stack;
  bool root_done = false;

  void before_value() {
    if (stack.empty()) {
      if (root_done) throw std::invalid_argument("JsonWriter: document already complete");
      return;
    }
    if (stack.back() == Frame::kObjectExpectKey) {
      throw std::invalid_argument("JsonWriter: value inside an object needs a key first");
    }
    if (stack.back() == Frame::kObjectExpectValue) stack.back() = Frame::kObjectExpectKey;
  }
  void after_value() {
    if (stack.empty()) root_done = true;
  }
};

JsonWriter::JsonWriter() : impl_(std::make_unique<Impl>()) {}
JsonWriter::JsonWriter(JsonWriter&&) noexcept = default;
JsonWriter& JsonWriter::operator=(JsonWriter&&) noexcept = default;
JsonWriter::~JsonWriter() = default;

JsonWriter& JsonWriter::start_object() {
  impl_->before_value();
  impl_->writer.StartObject();
  impl_->stack.push_back(Impl::Frame::kObjectExpectKey);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  if (impl_->stack.empty() || impl_->stack.back() != Impl::Frame::kObjectExpectKey) {
    throw std::invalid_argument(
        "JsonWriter: end_object without an open object (or after a dangling key)");
  }
  impl_->stack.pop_back();
  impl_->writer.EndObject();
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::start_array() {
  impl_->before_value();
  impl_->writer.StartArray();
  impl_->stack.push_back(Impl::Frame::kArray);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  if (impl_->stack.empty() || impl_->stack.back() != Impl::Frame::kArray) {
    throw std::invalid_argument("JsonWriter: end_array without an open array");
  }
  impl_->stack.pop_back();
  impl_->writer.EndArray();
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  if (impl_->stack.empty() || impl_->stack.back() != Impl::Frame::kObjectExpectKey) {
    throw std::invalid_argument("JsonWriter: key outside an object or twice in a row");
  }
  if (!utf8_length(name)) throw std::invalid_argument("JsonWriter: key is not valid UTF-8");
  impl_->writer.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()), true);
  impl_->stack.back() = Impl::Frame::kObjectExpectValue;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view value) {
  if (!utf8_length(value)) throw std::invalid_argument("JsonWriter: string is not valid UTF-8");
  impl_->before_value();
  impl_->writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()), true);
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::integer(std::int64_t value) {
  impl_->before_value();
  impl_->writer.Int64(value);
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::unsigned_integer(std::uint64_t value) {
  impl_->before_value();
  impl_->writer.Uint64(value);
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  if (!std::isfinite(value)) throw std::invalid_argument("JsonWriter: NaN or infinity");
  impl_->before_value();
  impl_->writer.Double(value);
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  impl_->before_value();
  impl_->writer.Bool(value);
  impl_->after_value();
  return *this;
}

JsonWriter& JsonWriter::null() {
  impl_->before_value();
  impl_->writer.Null();
  impl_->after_value();
  return *this;
}

bool JsonWriter::complete() const {
  return impl_->root_done;
}

std::string JsonWriter::str() const {
  if (!impl_->root_done) throw std::logic_error("JsonWriter: document is incomplete");
  return std::string(impl_->buffer.GetString(), impl_->buffer.GetSize());
}

}  // namespace ticketing
