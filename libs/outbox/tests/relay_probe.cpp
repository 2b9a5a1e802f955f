// A process that runs one outbox relay until SIGTERM/SIGINT, for the crash and
// takeover tests (they SIGKILL or SIGSTOP it and start others).
//   outbox_relay_probe <mysql-url-with-database> <table> <bootstrap> [batch-size]
//                      [name=value ...]
// name: stale_ms (leader_stale_after), standby_ms (standby_retry), instance.
// The instance name defaults to "probe-<pid>"; it is what the lease table
// shows for the leader.
#include <signal.h>

#include <pthread.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "ticketing/common/log.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/outbox/relay.hpp"

int main(int argc, char** argv) {
  using namespace ticketing;
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <mysql-url> <table> <bootstrap> [batch-size] [name=value...]\n",
                 argv[0]);
    return 2;
  }
  log::init("outbox-relay-probe");
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  outbox::RelayOptions options;
  options.producer.bootstrap_servers = argv[3];
  options.producer.client_id = "outbox-relay-probe";
  options.db = db::parse_url(argv[1]);
  options.table = argv[2];
  options.instance = fmt::format("probe-{}", ::getpid());
  if (argc > 4) options.batch_size = static_cast<std::size_t>(std::strtoul(argv[4], nullptr, 10));
  for (int i = 5; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? std::string() : arg.substr(eq + 1);
    if (name == "stale_ms") {
      options.leader_stale_after = std::chrono::milliseconds(std::stol(value));
    } else if (name == "standby_ms") {
      options.standby_retry = std::chrono::milliseconds(std::stol(value));
    } else if (name == "instance") {
      options.instance = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  outbox::Relay relay(options);
  relay.start();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  relay.stop();
  auto s = relay.stats();
  std::fprintf(
      stderr,
      "{\"probe\":\"stopped\",\"published\":%llu,\"failed\":%llu,\"batches\":%llu,"
      "\"terms\":%llu,\"takeovers\":%llu}\n",
      static_cast<unsigned long long>(s.published), static_cast<unsigned long long>(s.failed),
      static_cast<unsigned long long>(s.batches), static_cast<unsigned long long>(s.leader_terms),
      static_cast<unsigned long long>(s.takeovers));
  return 0;
}
