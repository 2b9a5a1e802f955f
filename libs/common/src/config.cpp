#include "ticketing/common/config.hpp"

#include <fmt/format.h>
#include <cerrno>
#include <cstdlib>

namespace ticketing {

namespace {

std::string join_problems(const std::vector<std::string>& problems) {
  std::string out = "invalid configuration:";
  for (const auto& p : problems) {
    out += "\n  - ";
    out += p;
  }
  return out;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_problems(problems)), problems_(std::move(problems)) {}

EnvReader::EnvReader()
    : EnvReader([](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      }) {}

EnvReader::EnvReader(Lookup lookup) : lookup_(std::move(lookup)) {}

void EnvReader::remember(std::string_view name, const std::string& value, bool secret) {
  seen_.emplace_back(std::string(name), secret ? std::string("***") : value);
}

std::string EnvReader::str(std::string_view name, std::string_view fallback) {
  auto v = lookup_(name);
  std::string value = (v && !v->empty()) ? *v : std::string(fallback);
  remember(name, value, false);
  return value;
}

std::string EnvReader::required(std::string_view name) {
  auto v = lookup_(name);
  if (!v || v->empty()) {
    problems_.push_back(fmt::format("{} is required but not set", name));
    return {};
  }
  remember(name, *v, false);
  return *v;
}

std::string EnvReader::secret(std::string_view name, std::size_t min_bytes) {
  auto v = lookup_(name);
  if (!v || v->empty()) {
    problems_.push_back(fmt::format("{} is required but not set", name));
    return {};
  }
  remember(name, *v, true);
  if (v->size() < min_bytes) {
    problems_.push_back(fmt::format("{} must be at least {} bytes", name, min_bytes));
  } else if (v->find(kDevelopmentSecretMarker) != std::string::npos) {
    auto dev = lookup_("TICKETING_DEV_MODE");
    if (!dev || *dev != "true") {
      problems_.push_back(fmt::format(
          "{} is a development value; set a secret of your own (or TICKETING_DEV_MODE=true "
          "on a development stack)",
          name));
    }
  }
  return *v;
}

std::int64_t EnvReader::integer(std::string_view name, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) {
  auto v = lookup_(name);
  if (!v || v->empty()) {
    remember(name, std::to_string(fallback), false);
    return fallback;
  }
  errno = 0;
  char* end = nullptr;
  long long parsed = std::strtoll(v->c_str(), &end, 10);
  if (errno != 0 || end == v->c_str() || *end != '\0') {
    problems_.push_back(fmt::format("{}='{}' is not an integer", name, *v));
    return fallback;
  }
  if (parsed < min || parsed > max) {
    problems_.push_back(fmt::format("{}={} is outside {}..{}", name, parsed, min, max));
    return fallback;
  }
  remember(name, *v, false);
  return parsed;
}

bool EnvReader::boolean(std::string_view name, bool fallback) {
  auto v = lookup_(name);
  if (!v || v->empty()) {
    remember(name, fallback ? "true" : "false", false);
    return fallback;
  }
  const std::string& s = *v;
  if (s == "1" || s == "true" || s == "yes" || s == "on") {
    remember(name, s, false);
    return true;
  }
  if (s == "0" || s == "false" || s == "no" || s == "off") {
    remember(name, s, false);
    return false;
  }
  problems_.push_back(fmt::format("{}='{}' is not a boolean (true/false)", name, s));
  return fallback;
}

std::string EnvReader::choice(std::string_view name, std::string_view fallback,
                              std::initializer_list<std::string_view> allowed) {
  auto v = lookup_(name);
  if (!v || v->empty()) {
    remember(name, std::string(fallback), false);
    return std::string(fallback);
  }
  for (auto a : allowed) {
    if (*v == a) {
      remember(name, *v, false);
      return *v;
    }
  }
  std::string options;
  for (auto a : allowed) options += (options.empty() ? "" : "|") + std::string(a);
  problems_.push_back(fmt::format("{}='{}' must be one of {}", name, *v, options));
  return std::string(fallback);
}

void EnvReader::fail(std::string_view name, std::string_view problem) {
  problems_.push_back(fmt::format("{}: {}", name, problem));
}

void EnvReader::finish() const {
  if (!problems_.empty()) throw ConfigError(problems_);
}

std::string EnvReader::describe() const {
  std::string out;
  for (const auto& [k, v] : seen_) out += fmt::format("{}={}\n", k, v);
  return out;
}

}  // namespace ticketing
