#pragma once
// What admin.cpp (topics), manifest.cpp and acls.cpp share: an admin
// client, its request options, waiting for a result, name checks and reading
// a table file. Private to libs/events.

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "rdkafka_handles.hpp"
#include "ticketing/events/security.hpp"

namespace ticketing::events::detail {

KafkaPtr admin_client(const std::string& bootstrap, const std::optional<KafkaSecurity>& security,
                      ClientLog log_mode = ClientLog::kNormal);
// Request timeout, and the broker-side operation timeout when asked.
AdminOptionsPtr admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                              std::chrono::milliseconds timeout, bool operation_timeout);
// Waits for the admin result event; throws KafkaError on a request-level error.
EventPtr wait_result(rd_kafka_queue_t* q, std::chrono::milliseconds timeout, const char* what);

// Kafka's rule for a topic name.
inline bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// A whole positive number up to max.
inline std::optional<int> parse_positive(const std::string& s, int max) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > max) return std::nullopt;
  return v;
}

// Reads `path` and parses it with `parse`; errors name the file.
template <typename Parse>
auto load_file(const std::string& path, const char* what, Parse parse) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(std::string("cannot read ") + what + " " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return parse(buf.str());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace ticketing::events::detail
