// KafkaSecurity: parsing and validation of the environment, and what every
// client does with it. [stack] needs the cluster of scripts/stack.sh (mutual
// TLS) and its admin settings (`stack.sh env`); everything else needs no
// server.

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rdkafka_handles.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/dlq_replay.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/security.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace ticketing::events;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPassword = "pw-that-must-never-show-7f3a";

using Env = std::map<std::string, std::string>;

KafkaSecurity parse(const Env& env) {
  return KafkaSecurity::from_env([&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

// The KafkaError of `f`, which must throw one.
template <typename F>
ticketing::KafkaError error_of(F&& f) {
  try {
    f();
  } catch (const ticketing::KafkaError& e) {
    return e;
  }
  FAIL("no KafkaError thrown");
  throw std::logic_error("unreachable");
}

// Sets the process environment's KAFKA_* security variables for one test and
// puts back what was there before (also when the test fails).
class ScopedSecurityEnv {
 public:
  explicit ScopedSecurityEnv(const Env& values) {
    for (const char* name : kNames) {
      const char* old = std::getenv(name);
      saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
      ::unsetenv(name);
    }
    for (const auto& [name, value] : values) ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedSecurityEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  ScopedSecurityEnv(const ScopedSecurityEnv&) = delete;
  ScopedSecurityEnv& operator=(const ScopedSecurityEnv&) = delete;

 private:
  static constexpr const char* kNames[] = {
      "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",  "KAFKA_SASL_USERNAME",
      "KAFKA_SASL_PASSWORD",     "KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION",
      "KAFKA_SSL_KEY_LOCATION"};
  std::map<std::string, std::optional<std::string>> saved_;
};

KafkaSecurity sasl_settings(std::string protocol, std::string mechanism, std::string user,
                            std::string password) {
  KafkaSecurity s;
  s.protocol = std::move(protocol);
  s.mechanism = std::move(mechanism);
  s.username = std::move(user);
  s.password = std::move(password);
  return s;
}

KafkaSecurity sasl_plain(std::string user = "payment-api") {
  return sasl_settings("SASL_PLAINTEXT", "PLAIN", std::move(user), kPassword);
}

// A TCP listener on 127.0.0.1 that accepts every connection and closes it at
// once: a peer that never completes a Kafka (let alone SASL) handshake.
class ClosingListener {
 public:
  ClosingListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c >= 0) {
          accepted_.fetch_add(1);
          ::close(c);
        }
      }
    });
  }
  ~ClosingListener() {
    stop_.store(true);
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  ClosingListener(const ClosingListener&) = delete;
  ClosingListener& operator=(const ClosingListener&) = delete;

  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int accepted() const { return accepted_.load(); }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("no security variable: PLAINTEXT, as before", "[security]") {
  const KafkaSecurity s = parse({});
  CHECK(s == KafkaSecurity{});
  CHECK(s.protocol == "PLAINTEXT");
  CHECK_FALSE(s.sasl());
  CHECK(s.describe() == "PLAINTEXT");
  // Empty variables count as unset (a shell's `export X=` is common).
  CHECK(parse({{"KAFKA_SECURITY_PROTOCOL", ""},
               {"KAFKA_SASL_MECHANISM", ""},
               {"KAFKA_SASL_USERNAME", ""},
               {"KAFKA_SASL_PASSWORD", ""}}) == KafkaSecurity{});
  CHECK(parse({{"KAFKA_SECURITY_PROTOCOL", "ssl"}}).protocol == "SSL");
}

TEST_CASE("SASL from the environment", "[security]") {
  const KafkaSecurity s = parse({{"KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"},
                                 {"KAFKA_SASL_USERNAME", "payment-api"},
                                 {"KAFKA_SASL_PASSWORD", kPassword}});
  CHECK(s.protocol == "SASL_PLAINTEXT");
  CHECK(s.mechanism == "SCRAM-SHA-512");  // the default
  CHECK(s.username == "payment-api");
  CHECK(s.password == kPassword);
  CHECK(s.sasl());
  CHECK(s.describe() == "SASL_PLAINTEXT/SCRAM-SHA-512 as payment-api");

  const KafkaSecurity plain = parse({{"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                                     {"KAFKA_SASL_MECHANISM", "plain"},
                                     {"KAFKA_SASL_USERNAME", "admin"},
                                     {"KAFKA_SASL_PASSWORD", " spaces kept "}});
  CHECK(plain.mechanism == "PLAIN");
  CHECK(plain.password == " spaces kept ");
}

TEST_CASE("mutual TLS from the environment", "[security]") {
  const KafkaSecurity s = parse({{"KAFKA_SECURITY_PROTOCOL", "ssl"},
                                 {"KAFKA_SSL_CA_LOCATION", "/tls/ca.pem"},
                                 {"KAFKA_SSL_CERTIFICATE_LOCATION", "/tls/payment-api.pem"},
                                 {"KAFKA_SSL_KEY_LOCATION", "/tls/payment-api.key"}});
  CHECK(s.protocol == "SSL");
  CHECK(s.tls());
  CHECK_FALSE(s.sasl());
  CHECK(s.mechanism.empty());
  CHECK(s.describe() == "SSL with certificate /tls/payment-api.pem");
  using Props = std::vector<std::pair<std::string, std::string>>;
  CHECK(s.librdkafka_properties() == Props{{"security.protocol", "SSL"},
                                           {"ssl.ca.location", "/tls/ca.pem"},
                                           {"ssl.certificate.location", "/tls/payment-api.pem"},
                                           {"ssl.key.location", "/tls/payment-api.key"}});
  // Server authentication only (the system's CAs): no ssl.* at all.
  CHECK(parse({{"KAFKA_SECURITY_PROTOCOL", "SSL"}}).librdkafka_properties() ==
        Props{{"security.protocol", "SSL"}});
  // SASL inside TLS takes both.
  const KafkaSecurity both = parse({{"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                                    {"KAFKA_SASL_MECHANISM", "PLAIN"},
                                    {"KAFKA_SASL_USERNAME", "admin"},
                                    {"KAFKA_SASL_PASSWORD", kPassword},
                                    {"KAFKA_SSL_CA_LOCATION", "/tls/ca.pem"}});
  CHECK(both.librdkafka_properties().size() == 5);
}

TEST_CASE("bad security settings name every variable at fault", "[security]") {
  SECTION("SASL without credentials") {
    const auto e = error_of([] { parse({{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"}}); });
    CHECK_FALSE(e.retryable());
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_USERNAME is required with "
                                  "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"));
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_PASSWORD is required"));
  }
  SECTION("SASL without password only") {
    const auto e = error_of([] {
      parse({{"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"}, {"KAFKA_SASL_USERNAME", "admin"}});
    });
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_PASSWORD"));
    CHECK_THAT(e.what(), !Contains("KAFKA_SASL_USERNAME"));
  }
  SECTION("unknown protocol") {
    const auto e = error_of([] { parse({{"KAFKA_SECURITY_PROTOCOL", "TLS"}}); });
    CHECK_FALSE(e.retryable());
    CHECK_THAT(e.what(), Contains("KAFKA_SECURITY_PROTOCOL='TLS' is not one of PLAINTEXT, "
                                  "SASL_PLAINTEXT, SASL_SSL, SSL"));
  }
  SECTION("unsupported mechanism") {
    const auto e = error_of([] {
      parse({{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"},
             {"KAFKA_SASL_MECHANISM", "GSSAPI"},
             {"KAFKA_SASL_USERNAME", "a"},
             {"KAFKA_SASL_PASSWORD", kPassword}});
    });
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_MECHANISM='GSSAPI' is not one of PLAIN"));
  }
  SECTION("credentials without SASL: refused, not silently anonymous") {
    const auto e = error_of([] {
      parse({{"KAFKA_SASL_USERNAME", "payment-api"}, {"KAFKA_SASL_PASSWORD", kPassword}});
    });
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_USERNAME is set, but "
                                  "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL"));
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_PASSWORD is set"));
    CHECK_THAT(e.what(), !Contains(kPassword));
  }
  SECTION("a client certificate without its key") {
    const auto e = error_of([] {
      parse({{"KAFKA_SECURITY_PROTOCOL", "SSL"}, {"KAFKA_SSL_CERTIFICATE_LOCATION", "/c.pem"}});
    });
    CHECK_THAT(e.what(), Contains("KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go "
                                  "together"));
  }
  SECTION("TLS files without TLS: refused, not silently anonymous") {
    const auto e = error_of([] {
      parse({{"KAFKA_SSL_CA_LOCATION", "/ca.pem"},
             {"KAFKA_SSL_CERTIFICATE_LOCATION", "/c.pem"},
             {"KAFKA_SSL_KEY_LOCATION", "/c.key"}});
    });
    CHECK_THAT(e.what(), Contains("KAFKA_SSL_CA_LOCATION is set, but "
                                  "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"));
    CHECK_THAT(e.what(), Contains("KAFKA_SSL_CERTIFICATE_LOCATION is set"));
    CHECK_THAT(e.what(), Contains("KAFKA_SSL_KEY_LOCATION is set"));
  }
  SECTION("settings built in code name the fields") {
    KafkaSecurity s = sasl_plain();
    s.username.clear();
    const auto e = error_of([&] { s.validate(); });
    CHECK_THAT(e.what(), Contains("security.username is required with "
                                  "security.protocol=SASL_PLAINTEXT"));
    CHECK_THAT(e.what(), !Contains(kPassword));
  }
}

TEST_CASE("from_env() reads the process environment", "[security]") {
  {
    ScopedSecurityEnv env(Env{{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"},
                              {"KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"},
                              {"KAFKA_SASL_USERNAME", "notification-worker"},
                              {"KAFKA_SASL_PASSWORD", kPassword}});
    const KafkaSecurity s = KafkaSecurity::from_env();
    CHECK(s == sasl_settings("SASL_PLAINTEXT", "SCRAM-SHA-256", "notification-worker", kPassword));
    CHECK(resolve_security(std::nullopt) == s);
  }
  ScopedSecurityEnv cleared(Env{});
  CHECK(KafkaSecurity::from_env() == KafkaSecurity{});
}

TEST_CASE("chosen settings win over the environment", "[security]") {
  ScopedSecurityEnv env(Env{{"KAFKA_SECURITY_PROTOCOL", "NONSENSE"}});
  CHECK_THROWS_AS(KafkaSecurity::from_env(), ticketing::KafkaError);
  CHECK(resolve_security(sasl_plain()) == sasl_plain());
  CHECK(resolve_security(KafkaSecurity{}) == KafkaSecurity{});
  KafkaSecurity bad = sasl_plain();
  bad.password.clear();
  CHECK_THROWS_AS(resolve_security(bad), ticketing::KafkaError);
}

TEST_CASE("every client refuses bad settings before it connects", "[security]") {
  // The environment is broken; each client built without chosen settings
  // must say so, and one built with chosen settings must not care.
  ScopedSecurityEnv env(Env{{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"}});
  const std::string nowhere = "127.0.0.1:1";
  auto names_variable = [](const ticketing::KafkaError& e) {
    CHECK_FALSE(e.retryable());
    CHECK_THAT(e.what(), Contains("KAFKA_SASL_USERNAME"));
  };

  ProducerOptions po;
  po.bootstrap_servers = nowhere;
  names_variable(error_of([&] { Producer p(po); }));
  po.security = KafkaSecurity{};
  CHECK_NOTHROW(Producer(po));
  po.security = sasl_plain();
  CHECK_NOTHROW(Producer(po));

  ConsumerOptions co;
  co.bootstrap_servers = nowhere;
  co.group_id = "unit-security";
  co.topics = {"t"};
  names_variable(error_of([&] { Consumer c(co); }));
  co.security = sasl_plain();
  CHECK_NOTHROW(Consumer(co));

  Manifest m;
  m.topics.push_back(TopicSpec{"t", 1, 1, {}});
  names_variable(error_of([&] { (void)create_topics(nowhere, m, 100ms); }));
  names_variable(error_of([&] { (void)delete_topics(nowhere, {"t"}, 100ms); }));
  names_variable(error_of([&] { (void)describe(nowhere, {}, 100ms); }));
  names_variable(error_of([&] { (void)wait_for_brokers(nowhere, 1, 100ms); }));
  names_variable(error_of([&] { commit_group_at_end(nowhere, "g", {"t"}, 100ms); }));
  CHECK(wait_for_brokers(nowhere, 1, 100ms, KafkaSecurity{}) == 0);

  DlqReadOptions ro;
  ro.bootstrap = nowhere;
  ro.topic = "t.dlq";
  ro.request_timeout = 100ms;
  names_variable(error_of([&] { DlqReader r(ro); }));

  ReplayOptions rp;
  rp.bootstrap = nowhere;
  rp.dlq_topic = "t.dlq";
  rp.group = "g";
  names_variable(error_of([&] { (void)replay_dead_letters(rp); }));
}

TEST_CASE("a rejected property never shows a secret value", "[security]") {
  auto conf = detail::new_conf();
  const auto e = error_of([&] { detail::set_conf(conf.get(), "sasl.password.typo", kPassword); });
  CHECK_THAT(e.what(), Contains("sasl.password.typo=***"));
  CHECK_THAT(e.what(), !Contains(kPassword));
  const auto plain = error_of([&] { detail::set_conf(conf.get(), "linger.typo", "5"); });
  CHECK_THAT(plain.what(), Contains("linger.typo=5"));
}

TEST_CASE("SASL clients facing a peer that drops them fail within their timeouts", "[security]") {
  ClosingListener peer;
  const auto started = Clock::now();

  ProducerOptions po;
  po.bootstrap_servers = peer.address();
  po.security = sasl_plain();
  po.close_timeout = 500ms;
  {
    Producer p(po);
    CHECK_FALSE(p.ping(1500ms));
  }
  const auto e = error_of([&] { (void)describe(peer.address(), {}, 1500ms, sasl_plain()); });
  CHECK_THAT(e.what(), Contains("cluster metadata unavailable"));
  CHECK(wait_for_brokers(peer.address(), 1, 1500ms, sasl_plain()) == 0);

  CHECK(peer.accepted() > 0);  // they did try
  CHECK(Clock::now() - started < 15s);
}

TEST_CASE("The stack's Kafka: the admin certificate works, anonymous clients fail cleanly",
          "[stack]") {
  const std::string bootstrap = ticketing::testing::kafka_bootstrap();
  // scripts/stack.sh env: the admin principal's settings (mutual TLS).
  const KafkaSecurity admin = KafkaSecurity::from_env();
  REQUIRE(admin.protocol == "SSL");
  REQUIRE_FALSE(admin.ssl_certificate_location.empty());
  REQUIRE(wait_for_brokers(bootstrap, 1, 30s, admin) >= 1);

  KafkaSecurity no_certificate = admin;
  no_certificate.ssl_certificate_location.clear();
  no_certificate.ssl_key_location.clear();
  const auto started = Clock::now();
  for (const KafkaSecurity& wrong : {KafkaSecurity{}, no_certificate}) {
    INFO(wrong.describe());
    ProducerOptions po;
    po.bootstrap_servers = bootstrap;
    po.client_id = "security-test";
    po.security = wrong;
    po.close_timeout = 500ms;
    {
      Producer p(po);
      CHECK_FALSE(p.ping(2s));
    }
    const auto e = error_of([&] { (void)describe(bootstrap, {}, 2s, wrong); });
    CHECK_THAT(e.what(), Contains("cluster metadata unavailable"));
    CHECK(wait_for_brokers(bootstrap, 1, 2s, wrong) == 0);
  }
  CHECK(Clock::now() - started < 40s);
}
