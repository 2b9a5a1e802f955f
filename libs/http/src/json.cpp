#include "ticketing/http/json.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ticketing::http {

namespace {

// Number of code points, or nullopt when `s` is not valid UTF-8 (overlong
// forms, surrogates and values above U+10FFFF are invalid).
std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return std::nullopt;
    }
    if (extra > 0 && i + extra >= s.size()) return std::nullopt;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return std::nullopt;
    }
    i += extra + 1;
    ++count;
  }
  return count;
}

bool is_json_media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto media = content_type.substr(0, semi);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  if (media.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < media.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

}  // namespace

struct JsonBody::Impl {
  rapidjson::Document doc;

  const rapidjson::Value* find(std::string_view field) const {
    auto it = doc.FindMember(
        rapidjson::Value(rapidjson::StringRef(field.data(), static_cast<rapidjson::SizeType>(field.size()))));
    if (it == doc.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }
};

JsonBody::JsonBody(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonBody::JsonBody(JsonBody&&) noexcept = default;
JsonBody& JsonBody::operator=(JsonBody&&) noexcept = default;
JsonBody::~JsonBody() = default;

std::variant<JsonBody, Response> JsonBody::parse(const Request& request) {
  if (auto ct = request.header("content-type"); ct && !is_json_media_type(*ct)) {
    return Response::error(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json");
  }
  return parse(request.body);
}

std::variant<JsonBody, Response> JsonBody::parse(std::string_view json) {
  auto impl = std::make_unique<Impl>();
  // Iterative parsing: a deeply nested body cannot exhaust the thread's stack.
  // The default MemoryPoolAllocator also frees without recursion.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  impl->doc.Parse<kFlags>(json.data(), json.size());
  if (impl->doc.HasParseError()) {
    return Response::error(
        400, "INVALID_JSON",
        fmt::format("request body is not valid JSON: {} at offset {}",
                    rapidjson::GetParseError_En(impl->doc.GetParseError()), impl->doc.GetErrorOffset()));
  }
  if (!impl->doc.IsObject()) {
    return Response::error(400, "INVALID_JSON", "request body must be a JSON object");
  }
  return JsonBody(std::move(impl));
}

std::optional<std::int64_t> JsonBody::int64(std::string_view field, std::int64_t min, std::int64_t max) {
  const auto* v = impl_->find(field);
  if (v == nullptr) {
    fail(field, "is required");
    return std::nullopt;
  }
  auto out_of_range = [&] {
    fail(field, fmt::format("must be between {} and {}", min, max));
    return std::nullopt;
  };
  if (v->IsInt64()) {
    auto n = v->GetInt64();
    if (n < min || n > max) return out_of_range();
    return n;
  }
  if (v->IsUint64()) return out_of_range();  // above INT64_MAX
  if (v->IsDouble()) {
    // 5.0 or 2.5 inside the range is a type error; 1e30 or an integer literal
    // too long for 64 bits is a range error.
    double d = v->GetDouble();
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) return out_of_range();
  }
  fail(field, "must be an integer");
  return std::nullopt;
}

std::optional<std::string> JsonBody::string(std::string_view field, std::size_t max_len) {
  const auto* v = impl_->find(field);
  if (v == nullptr) {
    fail(field, "is required");
    return std::nullopt;
  }
  if (!v->IsString()) {
    fail(field, "must be a string");
    return std::nullopt;
  }
  std::string s(v->GetString(), v->GetStringLength());
  // The parser validated UTF-8, so the length is known to exist.
  if (utf8_length(s).value_or(s.size()) > max_len) {
    fail(field, fmt::format("must be at most {} characters", max_len));
    return std::nullopt;
  }
  return s;
}

std::optional<bool> JsonBody::boolean(std::string_view field) {
  const auto* v = impl_->find(field);
  if (v == nullptr) {
    fail(field, "is required");
    return std::nullopt;
  }
  if (!v->IsBool()) {
    fail(field, "must be a boolean");
    return std::nullopt;
  }
  return v->GetBool();
}

bool JsonBody::has(std::string_view field) const { return impl_->find(field) != nullptr; }

void JsonBody::fail(std::string_view field, std::string_view problem) {
  problems_.push_back(fmt::format("{} {}", field, problem));
}

std::optional<Response> JsonBody::error() const {
  if (problems_.empty()) return std::nullopt;
  std::string message = "invalid request body: ";
  for (std::size_t i = 0; i < problems_.size(); ++i) {
    if (i > 0) message += "; ";
    message += problems_[i];
  }
  return Response::error(400, "VALIDATION_FAILED", message);
}

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
    throw std::invalid_argument("JsonWriter: end_object without an open object (or after a dangling key)");
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

bool JsonWriter::complete() const { return impl_->root_done; }

std::string JsonWriter::str() const {
  if (!impl_->root_done) throw std::logic_error("JsonWriter: document is incomplete");
  return std::string(impl_->buffer.GetString(), impl_->buffer.GetSize());
}

}  // namespace ticketing::http
