#include "ticketing/redis/options.hpp"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace ticketing::redis {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || hex_digit(in[i + 1]) < 0 || hex_digit(in[i + 2]) < 0) {
      throw std::invalid_argument(fmt::format("REDIS_URL: bad percent escape in {}", what));
    }
    out += static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]));
    i += 2;
  }
  return out;
}

long parse_number(std::string_view text, long min, long max, const char* what) {
  long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) {
    throw std::invalid_argument(fmt::format(
        "REDIS_URL: {} must be an integer in [{}, {}], got '{}'", what, min, max, text));
  }
  return v;
}

}  // namespace

std::string RedisOptions::describe() const {
  std::string auth;
  if (!user.empty() || !password.empty()) auth = user + (password.empty() ? "" : ":***") + "@";
  return fmt::format("redis://{}{}:{}/{}", auth, host, port, db);
}

RedisOptions parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    throw std::invalid_argument("REDIS_URL: must start with redis://");
  }
  std::string_view rest = url.substr(kScheme.size());
  RedisOptions o;
  std::string_view path;
  if (auto s = rest.find('/'); s != std::string_view::npos) {
    path = rest.substr(s + 1);
    rest = rest.substr(0, s);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto c = userinfo.find(':'); c != std::string_view::npos) {
      o.user = percent_decode(userinfo.substr(0, c), "user");
      o.password = percent_decode(userinfo.substr(c + 1), "password");
    } else {
      o.password = percent_decode(userinfo, "password");
    }
  }
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("REDIS_URL: unclosed '['");
    o.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("REDIS_URL: junk after ']'");
      o.port = static_cast<unsigned>(parse_number(rest.substr(1), 1, 65535, "port"));
    }
  } else if (auto c = rest.rfind(':'); c != std::string_view::npos) {
    o.host = std::string(rest.substr(0, c));
    o.port = static_cast<unsigned>(parse_number(rest.substr(c + 1), 1, 65535, "port"));
  } else {
    o.host = std::string(rest);
  }
  if (o.host.empty()) throw std::invalid_argument("REDIS_URL: empty host");
  if (!path.empty()) o.db = static_cast<int>(parse_number(path, 0, 1000000, "database number"));
  return o;
}

}  // namespace ticketing::redis
