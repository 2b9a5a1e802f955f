#include "ticketing/http/url.hpp"

#include <stdexcept>

namespace ticketing::http {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

[[noreturn]] void bad(std::string_view url, const std::string& why) {
  // The URL may carry a secret in its query: show only a prefix.
  std::string shown(url.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
  }
  throw std::invalid_argument("malformed URL '" + shown + (url.size() > 64 ? "...'" : "'") + ": " +
                              why);
}

}  // namespace

std::string Url::host_header() const {
  std::string out = ipv6_literal ? "[" + host + "]" : host;
  if (port != (tls() ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

Url parse_url(std::string_view url) {
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) bad(url, "contains whitespace, control or non-ASCII characters");
  }
  Url out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) bad(url, "missing scheme");
  for (char c : url.substr(0, sep)) out.scheme += lower(c);
  if (out.scheme != "http" && out.scheme != "https") bad(url, "scheme must be http or https");

  std::string_view rest = url.substr(sep + 3);
  auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) bad(url, "user info is not supported");
  if (authority.empty()) bad(url, "missing host");

  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad(url, "unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    if (host.empty() ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos ||
        host.find(':') == std::string_view::npos) {
      bad(url, "malformed IPv6 literal");
    }
    out.ipv6_literal = true;
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad(url, "unexpected characters after IPv6 literal");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) bad(url, "missing host");
    for (char c : host) {
      if (!is_alnum(c) && c != '-' && c != '.' && c != '_') bad(url, "invalid character in host");
    }
    if (host.front() == '.' || host.find("..") != std::string_view::npos)
      bad(url, "empty label in host");
  }
  for (char c : host) out.host += lower(c);

  if (has_port) {
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string_view::npos) {
      bad(url, "port must be a number in 1..65535");
    }
    unsigned long value = std::stoul(std::string(port_text));
    if (value == 0 || value > 65535) bad(url, "port must be a number in 1..65535");
    out.port = static_cast<std::uint16_t>(value);
  } else {
    out.port = out.tls() ? 443 : 80;
  }

  auto hash = tail.find('#');
  if (hash != std::string_view::npos) tail = tail.substr(0, hash);
  if (tail.empty() || tail.front() == '?') out.target = "/";
  out.target += tail;
  return out;
}

}  // namespace ticketing::http
