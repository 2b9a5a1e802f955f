#include <catch2/catch.hpp>

#include "ticketing/http/client_address.hpp"

using namespace ticketing::http;

namespace {
Request from(std::string peer, std::vector<std::string> forwarded = {}) {
  Request r;
  r.remote_address = std::move(peer);
  for (auto& f : forwarded) r.headers.emplace_back("x-forwarded-for", std::move(f));
  return r;
}
}  // namespace

TEST_CASE("trusted proxies: addresses and networks, IPv4 and IPv6") {
  auto t = TrustedProxies::parse(" 10.0.0.0/8, 127.0.0.1 ,::1, fd00::/8,192.168.1.7/32");
  REQUIRE(t);
  CHECK(t->contains("10.1.2.3"));
  CHECK(t->contains("127.0.0.1"));
  CHECK_FALSE(t->contains("127.0.0.2"));
  CHECK(t->contains("::1"));
  CHECK(t->contains("fd12::5"));
  CHECK_FALSE(t->contains("fe80::1"));
  CHECK(t->contains("192.168.1.7"));
  CHECK_FALSE(t->contains("192.168.1.8"));
  CHECK(t->contains("::ffff:10.9.9.9"));  // an IPv4 peer on a dual-stack socket
  CHECK_FALSE(t->contains("11.0.0.1"));
  CHECK_FALSE(t->contains("not-an-address"));
  CHECK_FALSE(t->contains(""));

  auto odd = TrustedProxies::parse("127.0.0.1/31");
  REQUIRE(odd);
  CHECK(odd->contains("127.0.0.0"));
  CHECK_FALSE(odd->contains("127.0.0.2"));
  CHECK(TrustedProxies::parse("")->empty());
  CHECK(TrustedProxies::parse(" , ")->empty());

  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "localhost",
                          "10.0.0.256", "1.2.3.4/8/8", "10.0.0.0/-1"}) {
    INFO(bad);
    std::string error;
    CHECK_FALSE(TrustedProxies::parse(bad, &error));
    CHECK(error.find("is not an IP address or CIDR network") != std::string::npos);
  }
}

TEST_CASE("client address: X-Forwarded-For only through trusted proxies") {
  auto t = *TrustedProxies::parse("127.0.0.0/8,10.0.0.0/8");
  // Not from a proxy: the header is the client's own words.
  CHECK(t.client_of(from("203.0.113.9", {"1.2.3.4"})) == "203.0.113.9");
  // From a proxy: the rightmost address that is not a proxy of ours.
  CHECK(t.client_of(from("127.0.0.1", {"198.51.100.7"})) == "198.51.100.7");
  CHECK(t.client_of(from("127.0.0.1", {"6.6.6.6, 198.51.100.7, 10.0.0.5"})) == "198.51.100.7");
  // Several header lines are one list, in order.
  CHECK(t.client_of(from("127.0.0.1", {"6.6.6.6", "198.51.100.7"})) == "198.51.100.7");
  // No header, an empty one, or only proxies: the last proxy seen.
  CHECK(t.client_of(from("127.0.0.1")) == "127.0.0.1");
  CHECK(t.client_of(from("127.0.0.1", {""})) == "127.0.0.1");
  CHECK(t.client_of(from("127.0.0.1", {"10.0.0.1, 10.0.0.2"})) == "10.0.0.1");
  // Garbage stops the walk at the last trusted hop: never an invented client.
  CHECK(t.client_of(from("127.0.0.1", {"1.1.1.1, <script>"})) == "127.0.0.1");
  CHECK(t.client_of(from("127.0.0.1", {"1.1.1.1, unknown, 10.0.0.3"})) == "10.0.0.3");
  CHECK(t.client_of(from("127.0.0.1", {"2001:db8::1"})) == "2001:db8::1");
  // Nobody trusted: always the socket.
  CHECK(TrustedProxies{}.client_of(from("127.0.0.1", {"1.2.3.4"})) == "127.0.0.1");
}
