#pragma once

#include <stdexcept>
#include <string>

namespace ticketing {

// Infrastructure faults (broker, database, cache, network). Expected business
// outcomes are values, never exceptions. Consumers decide retry or DLQ from
// retryable() and nothing else.
class InfraError : public std::runtime_error {
 public:
  InfraError(const std::string& what, bool retryable)
      : std::runtime_error(what), retryable_(retryable) {}
  [[nodiscard]] bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

class KafkaError : public InfraError {
 public:
  KafkaError(const std::string& what, bool retryable, int code = 0)
      : InfraError("kafka: " + what, retryable), code_(code) {}
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

class DbError : public InfraError {
 public:
  DbError(const std::string& what, bool retryable, unsigned code = 0)
      : InfraError("db: " + what, retryable), code_(code) {}
  [[nodiscard]] unsigned code() const noexcept { return code_; }

 private:
  unsigned code_;
};

class RedisError : public InfraError {
 public:
  RedisError(const std::string& what, bool retryable) : InfraError("redis: " + what, retryable) {}
};

class HttpClientError : public InfraError {
 public:
  HttpClientError(const std::string& what, bool retryable)
      : InfraError("http: " + what, retryable) {}
};

// A record or payload that can never be handled (bad JSON, schema violation).
// Never retryable: it goes to a dead-letter topic at once.
class PoisonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ticketing
