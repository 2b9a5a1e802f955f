#include "ticketing/http/json.hpp"

#include "ticketing/common/utf8.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace ticketing::http {

namespace {

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
    auto it = doc.FindMember(rapidjson::Value(
        rapidjson::StringRef(field.data(), static_cast<rapidjson::SizeType>(field.size()))));
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
  constexpr unsigned kFlags =
      rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  impl->doc.Parse<kFlags>(json.data(), json.size());
  if (impl->doc.HasParseError()) {
    return Response::error(400, "INVALID_JSON",
                           fmt::format("request body is not valid JSON: {} at offset {}",
                                       rapidjson::GetParseError_En(impl->doc.GetParseError()),
                                       impl->doc.GetErrorOffset()));
  }
  if (!impl->doc.IsObject()) {
    return Response::error(400, "INVALID_JSON", "request body must be a JSON object");
  }
  return JsonBody(std::move(impl));
}

std::optional<std::int64_t> JsonBody::int64(std::string_view field, std::int64_t min,
                                            std::int64_t max) {
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

bool JsonBody::has(std::string_view field) const {
  return impl_->find(field) != nullptr;
}

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

}  // namespace ticketing::http
