// HTTPS client tests against a tiny OpenSSL listener with a self-signed
// certificate generated on the fly (SAN DNS:localhost only).

#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "test_support.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/http/client.hpp"

using namespace ticketing::http;
using namespace ticketing::http::test;

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct CtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

class TlsPeer {
 public:
  TlsPeer() : listener_(listen_local(port_)) {
    key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    REQUIRE(key_);
    cert_.reset(X509_new());
    X509* x = cert_.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key_.get());
    X509_NAME* name = X509_get_subject_name(x);
    static constexpr unsigned char kCn[] = "localhost";
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, kCn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3{};
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
      REQUIRE(ext);
      X509_add_ext(x, ext.get(), -1);
    }
    REQUIRE(X509_sign(x, key_.get(), EVP_sha256()) > 0);

    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    REQUIRE(SSL_CTX_use_certificate(ctx_.get(), x) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx_.get(), key_.get()) == 1);

    char path[] = "/tmp/ticketing-http-ca-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ca_path_ = path;
    FILE* f = ::fdopen(fd, "w");
    REQUIRE(f != nullptr);
    PEM_write_X509(f, x);
    std::fclose(f);

    thread_ = std::thread([this] { serve(); });
  }

  ~TlsPeer() {
    stop_ = true;
    thread_.join();
    std::remove(ca_path_.c_str());
  }
  TlsPeer(const TlsPeer&) = delete;
  TlsPeer& operator=(const TlsPeer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& ca_path() const { return ca_path_; }
  [[nodiscard]] int served() const { return served_.load(); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      Fd conn(::accept(listener_.get(), nullptr, nullptr));
      if (!conn.valid()) continue;
      timeval tv{2, 0};
      ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx_.get()));
      SSL_set_fd(ssl.get(), conn.get());
      if (SSL_accept(ssl.get()) != 1) {
        ERR_clear_error();
        continue;  // e.g. the client rejected our certificate
      }
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        int n = SSL_read(ssl.get(), buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      static constexpr std::string_view kReply =
          "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ntls ok";
      SSL_write(ssl.get(), kReply.data(), static_cast<int>(kReply.size()));
      SSL_shutdown(ssl.get());
      ++served_;
    }
  }

  std::uint16_t port_ = 0;  // before listener_: its initializer writes it
  Fd listener_;
  std::unique_ptr<EVP_PKEY, PkeyFree> key_;
  std::unique_ptr<X509, X509Free> cert_;
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::string ca_path_;
  std::atomic<bool> stop_{false};
  std::atomic<int> served_{0};
  std::thread thread_;
};

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE(
    "https client: verification on by default, off on request, custom CA, host name checked") {
  TlsPeer peer;
  const std::string by_name = "https://localhost:" + std::to_string(peer.port()) + "/hook";
  const std::string by_ip = "https://127.0.0.1:" + std::to_string(peer.port()) + "/hook";

  SECTION("verify_tls=false accepts the self-signed certificate") {
    ClientOptions o;
    o.verify_tls = false;
    Client client(o);
    ClientRequest req;
    req.url = by_ip;
    auto res = client.send(req);
    CHECK(res.status == 200);
    CHECK(res.body == "tls ok");
  }

  SECTION("verify_tls=true with the system CAs rejects it, not retryable") {
    Client client;
    ClientRequest req;
    req.url = by_name;
    try {
      client.send(req);
      FAIL("self-signed certificate accepted");
    } catch (const ticketing::HttpClientError& e) {
      CHECK_FALSE(e.retryable());
      CHECK(has(e.what(), "certificate"));
    }
    CHECK(peer.served() == 0);
  }

  SECTION("trusting the certificate as CA works for the name it carries") {
    ClientOptions o;
    o.ca_file = peer.ca_path();
    Client client(o);
    ClientRequest req;
    req.url = by_name;
    auto res = client.send(req);
    CHECK(res.status == 200);
    CHECK(res.body == "tls ok");

    // Same certificate, but 127.0.0.1 is not among its names.
    req.url = by_ip;
    try {
      client.send(req);
      FAIL("host name mismatch accepted");
    } catch (const ticketing::HttpClientError& e) {
      CHECK_FALSE(e.retryable());
      CHECK(has(e.what(), "rejected"));
    }
  }
}

TEST_CASE("https client: unreadable CA file fails at construction") {
  ClientOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  CHECK_THROWS_AS(Client(o), ticketing::HttpClientError);
}
