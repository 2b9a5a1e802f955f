#include "ticketing/events/namespace.hpp"

#include <cstdlib>
#include <stdexcept>

namespace ticketing::events {

bool valid_topic_prefix(std::string_view prefix) {
  if (prefix.size() > 64) return false;
  for (char c : prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const std::string& topic_prefix() {
  static const std::string prefix = [] {
    const char* v = std::getenv("TOPIC_PREFIX");
    std::string p = v != nullptr ? v : "";
    if (!valid_topic_prefix(p)) {
      throw std::invalid_argument("TOPIC_PREFIX: at most 64 of [A-Za-z0-9._-], got '" + p + "'");
    }
    return p;
  }();
  return prefix;
}

std::string kafka_topic(std::string_view topic, std::string_view prefix) {
  std::string out(prefix);
  out += topic;
  return out;
}

std::string kafka_topic(std::string_view topic) {
  return kafka_topic(topic, topic_prefix());
}

std::string kafka_group(std::string_view group) {
  return kafka_topic(group, topic_prefix());
}

std::optional<std::string> local_topic(std::string_view kafka_name) {
  const std::string& p = topic_prefix();
  if (kafka_name.size() <= p.size() || kafka_name.substr(0, p.size()) != p) return std::nullopt;
  return std::string(kafka_name.substr(p.size()));
}

std::string local_topic_or_same(std::string_view kafka_name) {
  auto local = local_topic(kafka_name);
  return local ? *local : std::string(kafka_name);
}

}  // namespace ticketing::events
