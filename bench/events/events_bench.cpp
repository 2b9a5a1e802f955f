// libs/events measured the way Kafka's own tools measure the Java client:
//   produce: like ProducerPerformance, N records of S bytes as fast as
//     possible; throughput over the whole run and the send→ack latency of
//     each record;
//   latency: like EndToEndLatency, one record at a time: produce, wait until
//     the consumer returns it, record the round trip.
// Output: one `key=value` line per mode, read by bench/bench-events.sh.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "ticketing/events/consumer.hpp"
#include "ticketing/events/producer.hpp"

using namespace std::chrono;
using namespace ticketing::events;

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[idx];
}

int run_produce(const std::string& bootstrap, const std::string& topic, int records, int size,
                int linger_ms, const std::string& batch_size) {
  ProducerOptions options;
  options.bootstrap_servers = bootstrap;
  options.client_id = "events-bench";
  options.linger_ms = linger_ms;
  options.extra["batch.size"] = batch_size;
  options.queue_full_timeout = seconds(60);
  Producer producer(options);

  std::string payload(static_cast<std::size_t>(size), 'x');
  std::vector<double> latency_ms(static_cast<std::size_t>(records), 0.0);
  std::atomic<int> failed{0};
  auto start = steady_clock::now();
  for (int i = 0; i < records; ++i) {
    Record r;
    r.topic = topic;
    r.value = payload;
    auto sent = steady_clock::now();
    producer.produce(std::move(r), [&latency_ms, &failed, i, sent](const DeliveryReport& d) {
      if (!d.ok) failed.fetch_add(1);
      latency_ms[static_cast<std::size_t>(i)] =
          duration<double, std::milli>(steady_clock::now() - sent).count();
    });
  }
  if (!producer.flush(minutes(5))) {
    std::fprintf(stderr, "flush timed out\n");
    return 1;
  }
  double secs = duration<double>(steady_clock::now() - start).count();
  std::printf("%s\n", fmt::format(
                          "produce records={} size={} seconds={:.3f} rate={:.1f} mb_per_s={:.2f} "
                          "avg_ms={:.1f} p50_ms={:.1f} p99_ms={:.1f} failed={}",
                          records, size, secs, records / secs,
                          records * static_cast<double>(size) / secs / 1048576.0,
                          [&] {
                            double s = 0;
                            for (double v : latency_ms) s += v;
                            return s / records;
                          }(),
                          percentile(latency_ms, 0.50), percentile(latency_ms, 0.99), failed.load())
                          .c_str());
  return failed.load() == 0 ? 0 : 1;
}

int run_latency(const std::string& bootstrap, const std::string& topic, int messages, int size) {
  ProducerOptions po;
  po.bootstrap_servers = bootstrap;
  po.client_id = "events-bench-latency";
  po.linger_ms = 0;
  // The Java client disables Nagle's algorithm by default; so do we here.
  po.extra["socket.nagle.disable"] = "true";
  Producer producer(po);

  ConsumerOptions co;
  co.bootstrap_servers = bootstrap;
  co.group_id = fmt::format("events-bench-{}", steady_clock::now().time_since_epoch().count());
  co.topics = {topic};
  co.auto_offset_reset = "latest";
  co.extra["socket.nagle.disable"] = "true";
  co.extra["fetch.wait.max.ms"] = "100";
  co.extra["fetch.error.backoff.ms"] = "10";
  Consumer consumer(co);
  // Wait for the assignment, then for the consumer to sit at the log end.
  auto deadline = steady_clock::now() + seconds(30);
  while (consumer.assignment().empty() && steady_clock::now() < deadline)
    consumer.poll(milliseconds(100));
  if (consumer.assignment().empty()) {
    std::fprintf(stderr, "consumer got no assignment\n");
    return 1;
  }
  for (int i = 0; i < 5; ++i) consumer.poll(milliseconds(100));

  std::string payload(static_cast<std::size_t>(size), 'y');
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<std::size_t>(messages));
  for (int i = 0; i < messages; ++i) {
    std::string marker = fmt::format("{:010d}", i);
    Record r;
    r.topic = topic;
    r.value = marker + payload.substr(marker.size());
    auto begin = steady_clock::now();
    auto report = producer.produce(std::move(r)).get();
    if (!report.ok) {
      std::fprintf(stderr, "produce failed: %s\n", report.error.c_str());
      return 1;
    }
    for (;;) {
      auto m = consumer.poll(milliseconds(10000));
      if (!m) {
        std::fprintf(stderr, "record %d not consumed within 10 s\n", i);
        return 1;
      }
      if (m->value.compare(0, marker.size(), marker) == 0) break;
    }
    latency_ms.push_back(duration<double, std::milli>(steady_clock::now() - begin).count());
  }
  double sum = 0;
  for (double v : latency_ms) sum += v;
  std::printf("%s\n",
              fmt::format("latency messages={} size={} avg_ms={:.3f} p50_ms={:.3f} p99_ms={:.3f} "
                          "p999_ms={:.3f}",
                          messages, size, sum / messages, percentile(latency_ms, 0.50),
                          percentile(latency_ms, 0.99), percentile(latency_ms, 0.999))
                  .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: events_bench produce <bootstrap> <topic> <records> <size> [linger-ms] "
                 "[batch-size]\n"
                 "       events_bench latency <bootstrap> <topic> <messages> <size>\n");
    return 2;
  }
  std::string mode = argv[1];
  int count = std::atoi(argv[4]);
  int size = argc > 5 ? std::atoi(argv[5]) : 512;
  try {
    if (mode == "produce")
      return run_produce(argv[2], argv[3], count, size, argc > 6 ? std::atoi(argv[6]) : 5,
                         argc > 7 ? argv[7] : "131072");
    if (mode == "latency") return run_latency(argv[2], argv[3], count, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "events_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
