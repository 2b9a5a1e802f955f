#include "ticketing/http/client_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace ticketing::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An IPv4 or IPv6 address in binary (inet_pton); an IPv4-mapped IPv6
// address (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers)
// counts as IPv4.
struct Address {
  bool v6 = false;
  unsigned char bytes[16] = {};
};

std::optional<Address> parse_address(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes, kMapped, 12) == 0) {
    std::memmove(a.bytes, a.bytes + 12, 4);
    std::memset(a.bytes + 4, 0, 12);
    return a;
  }
  a.v6 = true;
  return a;
}

bool in_network(const Address& a, bool v6, const unsigned char* net, int prefix) {
  if (a.v6 != v6) return false;
  int full = prefix / 8;
  if (std::memcmp(a.bytes, net, static_cast<std::size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (net[full] & mask);
}

}  // namespace

std::optional<TrustedProxies> TrustedProxies::parse(std::string_view list, std::string* error) {
  TrustedProxies out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = std::min(list.find(',', start), list.size());
    auto entry = trim(list.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    auto slash = entry.find('/');
    auto addr = parse_address(entry.substr(0, slash));
    int prefix = -1;
    if (addr) {
      int max = addr->v6 ? 128 : 32;
      prefix = max;
      if (slash != std::string_view::npos) {
        auto p = entry.substr(slash + 1);
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (ec != std::errc{} || ptr != p.data() + p.size() || prefix < 0 || prefix > max)
          prefix = -1;
      }
    }
    if (!addr || prefix < 0) {
      if (error != nullptr)
        *error = "'" + std::string(entry) + "' is not an IP address or CIDR network";
      return std::nullopt;
    }
    Network n;
    n.v6 = addr->v6;
    std::memcpy(n.bytes, addr->bytes, sizeof n.bytes);
    n.prefix = prefix;
    out.networks_.push_back(n);
  }
  return out;
}

bool TrustedProxies::contains(std::string_view address) const {
  auto a = parse_address(address);
  if (!a) return false;
  for (const auto& n : networks_) {
    if (in_network(*a, n.v6, n.bytes, n.prefix)) return true;
  }
  return false;
}

std::string TrustedProxies::client_of(const Request& req) const {
  if (networks_.empty() || !contains(req.remote_address)) return req.remote_address;
  // Every X-Forwarded-For line, in order, as one list.
  std::vector<std::string_view> hops;
  for (const auto& [name, value] : req.headers) {
    if (name != "x-forwarded-for") continue;
    std::string_view v = value;
    std::size_t start = 0;
    while (start <= v.size()) {
      auto comma = std::min(v.find(',', start), v.size());
      hops.push_back(trim(v.substr(start, comma - start)));
      start = comma + 1;
    }
  }
  std::string client = req.remote_address;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!parse_address(*it)) break;  // malformed: stop at the last trusted hop
    client = std::string(*it);
    if (!contains(*it)) break;
  }
  return client;
}

}  // namespace ticketing::http
