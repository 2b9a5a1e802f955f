#include "ticketing/db/options.hpp"

#include <charconv>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace ticketing::db {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) {
      throw std::invalid_argument(fmt::format("MYSQL_URL: bad percent escape in {}", what));
    }
    int hi = hex_digit(in[i + 1]);
    int lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) {
      throw std::invalid_argument(fmt::format("MYSQL_URL: bad percent escape in {}", what));
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

unsigned parse_unsigned(std::string_view text, unsigned min, unsigned max, const char* what) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) {
    throw std::invalid_argument(fmt::format(
        "MYSQL_URL: {} must be an integer in [{}, {}], got '{}'", what, min, max, text));
  }
  return v;
}

}  // namespace

std::string ConnectOptions::describe() const {
  std::string out = fmt::format("mysql://{}{}@{}:{}/{}", user, password.empty() ? "" : ":***", host,
                                port, database);
  if (!socket.empty()) out += "?socket=" + socket;
  return out;
}

ConnectOptions parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "mysql://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    throw std::invalid_argument("MYSQL_URL: must start with mysql://");
  }
  std::string_view rest = url.substr(kScheme.size());
  ConnectOptions o;

  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (auto s = rest.find('/'); s != std::string_view::npos) {
    path = rest.substr(s + 1);
    rest = rest.substr(0, s);
  }
  // The password may itself contain '@' when not escaped: split at the last one.
  auto at = rest.rfind('@');
  if (at == std::string_view::npos) throw std::invalid_argument("MYSQL_URL: missing user@");
  std::string_view userinfo = rest.substr(0, at);
  std::string_view hostport = rest.substr(at + 1);
  if (auto c = userinfo.find(':'); c != std::string_view::npos) {
    o.user = percent_decode(userinfo.substr(0, c), "user");
    o.password = percent_decode(userinfo.substr(c + 1), "password");
  } else {
    o.user = percent_decode(userinfo, "user");
  }
  if (o.user.empty()) throw std::invalid_argument("MYSQL_URL: empty user");

  if (!hostport.empty() && hostport.front() == '[') {  // [ipv6]:port
    auto close = hostport.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("MYSQL_URL: unclosed '['");
    o.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("MYSQL_URL: junk after ']'");
      o.port = parse_unsigned(after.substr(1), 1, 65535, "port");
    }
  } else if (auto c = hostport.rfind(':'); c != std::string_view::npos) {
    o.host = std::string(hostport.substr(0, c));
    o.port = parse_unsigned(hostport.substr(c + 1), 1, 65535, "port");
  } else {
    o.host = std::string(hostport);
  }
  if (o.host.empty()) throw std::invalid_argument("MYSQL_URL: empty host");

  if (path.find('/') != std::string_view::npos) {
    throw std::invalid_argument("MYSQL_URL: database name must not contain '/'");
  }
  o.database = percent_decode(path, "database");

  while (!query.empty()) {
    std::string_view item = query.substr(0, query.find('&'));
    query = item.size() < query.size() ? query.substr(item.size() + 1) : std::string_view{};
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw std::invalid_argument(fmt::format("MYSQL_URL: parameter '{}' has no value", item));
    }
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    if (key == "socket") {
      o.socket = percent_decode(value, "socket");
    } else if (key == "connect_timeout") {
      o.connect_timeout = std::chrono::seconds(parse_unsigned(value, 1, 3600, "connect_timeout"));
    } else if (key == "read_timeout") {
      o.read_timeout = std::chrono::seconds(parse_unsigned(value, 1, 86400, "read_timeout"));
    } else if (key == "write_timeout") {
      o.write_timeout = std::chrono::seconds(parse_unsigned(value, 1, 86400, "write_timeout"));
    } else {
      throw std::invalid_argument(fmt::format("MYSQL_URL: unknown parameter '{}'", key));
    }
  }
  return o;
}

}  // namespace ticketing::db
