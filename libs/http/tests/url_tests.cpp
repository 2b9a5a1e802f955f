#include <catch2/catch.hpp>

#include "ticketing/http/url.hpp"

using namespace ticketing::http;

TEST_CASE("parse_url splits scheme, host, port and target") {
  auto u = parse_url("http://example.com");
  CHECK(u.scheme == "http");
  CHECK(u.host == "example.com");
  CHECK(u.port == 80);
  CHECK(u.target == "/");
  CHECK_FALSE(u.tls());
  CHECK(u.host_header() == "example.com");

  u = parse_url("HTTPS://Data.Example.COM:8443/v1/x?a=1&b=%20#frag");
  CHECK(u.scheme == "https");
  CHECK(u.tls());
  CHECK(u.host == "data.example.com");
  CHECK(u.port == 8443);
  CHECK(u.target == "/v1/x?a=1&b=%20");
  CHECK(u.host_header() == "data.example.com:8443");

  u = parse_url("https://h/p");
  CHECK(u.port == 443);
  CHECK(u.host_header() == "h");

  u = parse_url("http://127.0.0.1:9000?q=1");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.target == "/?q=1");

  u = parse_url("http://[::1]:8080/hook");
  CHECK(u.host == "::1");
  CHECK(u.ipv6_literal);
  CHECK(u.port == 8080);
  CHECK(u.target == "/hook");
  CHECK(u.host_header() == "[::1]:8080");

  u = parse_url("http://[::1]");
  CHECK(u.port == 80);
  CHECK(u.host_header() == "[::1]");

  u = parse_url("http://h:65535#x");
  CHECK(u.port == 65535);
  CHECK(u.target == "/");
}

TEST_CASE("parse_url rejects malformed URLs with a reason") {
  for (const char* bad : {"",
                          "example.com/x",
                          "ftp://h/",
                          "http://",
                          "http:///path",
                          "http://:80/",
                          "http://h:/",
                          "http://h:0/",
                          "http://h:65536/",
                          "http://h:8x/",
                          "http://h:123456/",
                          "http://user:pw@h/",
                          "http://h /",
                          "http://h/a b",
                          "http://h/\r\nX: y",
                          "http://[::1/",
                          "http://[::1]x/",
                          "http://[]/",
                          "http://[zz]/",
                          "http://h:1:2/",
                          "http://a..b/",
                          "http://h\xC3\xA9/",
                          "http://h%41/"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_url(bad), std::invalid_argument);
  }
  try {
    parse_url("http://h:99999/secret?token=abc");
    FAIL("should throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("port") != std::string::npos);
  }
}
