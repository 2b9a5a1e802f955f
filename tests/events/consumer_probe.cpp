// Helper process of the at-least-once crash test. Joins GROUP on TOPIC,
// polls one record, reports it on stdout, and SIGKILLs itself:
//   mode A: "handles" the record and dies before storing its offset;
//   mode B: stores the offset, waits for an auto-commit, then dies.
// usage: events_consumer_probe A|B BOOTSTRAP TOPIC GROUP

#include <csignal>
#include <cstdio>
#include <string>

#include "ticketing/common/log.hpp"
#include "ticketing/events/consumer.hpp"

int main(int argc, char** argv) {
  namespace ev = ticketing::events;
  using namespace std::chrono_literals;
  if (argc != 5 || (std::string(argv[1]) != "A" && std::string(argv[1]) != "B")) {
    std::fprintf(stderr, "usage: %s A|B BOOTSTRAP TOPIC GROUP\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  ticketing::log::init("consumer-probe", ticketing::log::Level::kWarn);
  ev::ConsumerOptions o;
  o.bootstrap_servers = argv[2];
  o.topics = {argv[3]};
  o.group_id = argv[4];
  o.client_id = std::string("probe-") + mode;
  o.session_timeout_ms = 6000;
  o.auto_commit_interval_ms = 100;
  ev::Consumer consumer(o);
  for (int i = 0; i < 600; ++i) {  // up to 60 s to join and fetch
    auto m = consumer.poll(100ms);
    if (!m) continue;
    if (mode == "A") {
      std::printf("handled %d %lld\n", m->partition, static_cast<long long>(m->offset));
      std::fflush(stdout);
      std::raise(SIGKILL);  // crash between handling and storing
    }
    consumer.store(*m);
    std::printf("stored %d %lld\n", m->partition, static_cast<long long>(m->offset));
    std::fflush(stdout);
    // Auto-commit runs every 100 ms on librdkafka's own thread; keep polling
    // (without storing anything else) for a second to be sure one happened.
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < until) (void)consumer.poll(50ms);
    std::raise(SIGKILL);
  }
  std::fprintf(stderr, "probe: no record within 60 s\n");
  return 1;
}
