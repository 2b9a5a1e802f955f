#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Reads configuration from the environment. Every getter records a problem
// instead of throwing, so that finish() can report all missing or malformed
// variables at once.
// Marks the secrets of development stacks (make run, make demo, compose).
inline constexpr std::string_view kDevelopmentSecretMarker = "insecure-development";

class EnvReader {
 public:
  using Lookup = std::function<std::optional<std::string>(std::string_view)>;

  EnvReader();  // reads the process environment
  explicit EnvReader(Lookup lookup);

  std::string str(std::string_view name, std::string_view fallback);
  std::string required(std::string_view name);
  // Required, printed as ***, at least `min_bytes` long. A development value
  // (one containing kDevelopmentSecretMarker, as the project's scripts use)
  // is refused unless TICKETING_DEV_MODE=true: no service runs on a known
  // secret by accident.
  std::string secret(std::string_view name, std::size_t min_bytes = 32);
  std::int64_t integer(std::string_view name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  bool boolean(std::string_view name, bool fallback);
  // One of `allowed` (exact match); anything else is a problem.
  std::string choice(std::string_view name, std::string_view fallback,
                     std::initializer_list<std::string_view> allowed);
  // Records a problem found by the caller (a cross-variable rule, a value
  // another parser rejected), reported with all the others by finish().
  void fail(std::string_view name, std::string_view problem);

  // Throws ConfigError listing every problem seen so far.
  void finish() const;
  // NAME=value lines of everything read, secrets masked.
  [[nodiscard]] std::string describe() const;

 private:
  void remember(std::string_view name, const std::string& value, bool secret);

  Lookup lookup_;
  std::vector<std::string> problems_;
  std::vector<std::pair<std::string, std::string>> seen_;
};

}  // namespace ticketing
