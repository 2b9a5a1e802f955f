#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ticketing::http {

// An absolute http:// or https:// URL split for a client request.
struct Url {
  std::string scheme;      // "http" or "https", lower-cased
  std::string host;        // lower-cased; IPv6 literal without brackets, e.g. "::1"
  std::uint16_t port = 0;  // explicit, or 80 / 443 by scheme
  std::string target;      // path and query, never empty: "/" when absent; fragment dropped
  bool ipv6_literal = false;

  [[nodiscard]] bool tls() const noexcept { return scheme == "https"; }
  // Value for the Host header: host[:port] with brackets for IPv6, the port
  // omitted when it is the scheme's default.
  [[nodiscard]] std::string host_header() const;
};

// Throws std::invalid_argument with the reason: other schemes, missing or
// malformed host, user info ("user@host"), port outside 1..65535, whitespace or
// control characters anywhere (they would allow request/header injection).
Url parse_url(std::string_view url);

}  // namespace ticketing::http
