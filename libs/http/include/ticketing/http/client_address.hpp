#pragma once

// Which address a request comes from, for per-client limits and logs.
//
// The peer's socket address, unless the peer is a trusted proxy (a load
// balancer of ours): then X-Forwarded-For is read from the right, skipping
// trusted proxies, and the first other address is the client. Entries left of
// it were written by the client itself and are never believed. An entry that
// is not an IP address ends the walk at the last trusted hop, so a malformed
// header can only make the answer a proxy of ours, never an invented client.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/http/server.hpp"

namespace ticketing::http {

class TrustedProxies {
 public:
  TrustedProxies() = default;  // trusts nobody: always the socket address

  // A comma-separated list of addresses and CIDR networks, IPv4 or IPv6
  // ("10.0.0.0/8, 127.0.0.1, ::1"); empty trusts nobody. std::nullopt and
  // `error` set for a bad entry.
  static std::optional<TrustedProxies> parse(std::string_view list, std::string* error = nullptr);

  [[nodiscard]] bool contains(std::string_view address) const;
  [[nodiscard]] bool empty() const { return networks_.empty(); }

  // The client of `req`, as above; req.remote_address when nothing better is known.
  [[nodiscard]] std::string client_of(const Request& req) const;

 private:
  struct Network {
    bool v6 = false;
    unsigned char bytes[16] = {};
    int prefix = 0;
  };
  std::vector<Network> networks_;
};

}  // namespace ticketing::http
