// A process that runs one outbox relay until SIGTERM/SIGINT, for the crash
// test (the test SIGKILLs it mid-batch and starts it again).
//   outbox_relay_probe <mysql-url-with-database> <table> <bootstrap> [batch-size]
#include <signal.h>

#include <pthread.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "ticketing/common/log.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/outbox/relay.hpp"

int main(int argc, char** argv) {
  using namespace ticketing;
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <mysql-url> <table> <bootstrap> [batch-size]\n", argv[0]);
    return 2;
  }
  log::init("outbox-relay-probe");
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  events::ProducerOptions producer_options;
  producer_options.bootstrap_servers = argv[3];
  producer_options.client_id = "outbox-relay-probe";
  events::Producer producer(producer_options);

  outbox::RelayOptions options;
  options.db = db::parse_url(argv[1]);
  options.table = argv[2];
  options.instance = fmt::format("probe-{}", ::getpid());
  if (argc > 4) options.batch_size = static_cast<std::size_t>(std::strtoul(argv[4], nullptr, 10));
  outbox::Relay relay(options, producer);
  relay.start();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  relay.stop();
  auto s = relay.stats();
  std::fprintf(
      stderr, "{\"probe\":\"stopped\",\"published\":%llu,\"failed\":%llu,\"batches\":%llu}\n",
      static_cast<unsigned long long>(s.published), static_cast<unsigned long long>(s.failed),
      static_cast<unsigned long long>(s.batches));
  return 0;
}
