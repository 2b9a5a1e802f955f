// Schema validation of one event, per second, two ways side by side:
//   stock:    what SchemaRegistry::validate did before its native `pattern`
//             matchers: parse, then RapidJSON's SchemaValidator with RapidJSON's
//             own regex, under one mutex per schema (that regex keeps its match
//             state in the schema);
//   registry: SchemaRegistry::builtin().validate() as it is now.
// Run by hand: build/bench/events/bench_validate [seconds-per-case=2] [max-threads=2]
// Output: one `key=value` line per event type and thread count.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <rapidjson/document.h>
#include <rapidjson/schema.h>
#pragma GCC diagnostic pop

#include "ticketing/events/envelope.hpp"
#include "ticketing/events/schema.hpp"

using namespace std::chrono;
using namespace ticketing::events;

namespace {

struct Stock {
  rapidjson::Document source;
  std::unique_ptr<rapidjson::SchemaDocument> schema;
  std::mutex mutex;

  explicit Stock(std::string_view type) {
    for (const auto& s : builtin_schema_sources()) {
      if (s.type == type) source.Parse(s.json.data(), s.json.size());
    }
    if (!source.IsObject()) throw std::runtime_error("no schema for " + std::string(type));
    schema = std::make_unique<rapidjson::SchemaDocument>(source);
  }

  void validate(const std::string& json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) throw std::runtime_error("not JSON");
    std::lock_guard lock(mutex);
    rapidjson::SchemaValidator validator(*schema);
    if (!doc.Accept(validator)) throw std::runtime_error("invalid");
  }
};

// Validations per second over `seconds`, summed over `threads` threads.
template <typename F>
double rate(int threads, double seconds, F validate) {
  std::atomic<long> total{0};
  std::vector<std::thread> pool;
  const auto until = steady_clock::now() + duration<double>(seconds);
  const auto start = steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      long n = 0;
      while (steady_clock::now() < until) {
        for (int i = 0; i < 16; ++i) validate();
        n += 16;
      }
      total.fetch_add(n);
    });
  }
  for (auto& th : pool) th.join();
  return static_cast<double>(total.load()) / duration<double>(steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  struct Case {
    const char* type;
    const char* data;
  };
  const Case cases[] = {
      {"reservation.held",
       R"({"reservationId":1042,"userId":7,"concertId":3,"scheduleId":12,"seatNo":17,)"
       R"("price":55000,"heldAt":"2026-03-14T09:30:00.120Z","expiresAt":"2026-03-14T09:35:00.120Z"})"},
      {"payment.completed",
       R"({"paymentId":5,"reservationId":9,"userId":3,"amount":100,"paidAt":"2026-01-01T00:00:00Z"})"},
  };
  const auto& registry = SchemaRegistry::builtin();
  for (const auto& c : cases) {
    const std::string producer =
        std::string(c.type).substr(0, 7) == "payment" ? "payment-api" : "reservation-api";
    const std::string json = to_json(Envelope::make(c.type, producer, c.data));
    Stock stock(c.type);
    stock.validate(json);  // both accept it before anything is timed
    registry.validate(c.type, json);
    for (int threads = 1; threads <= max_threads; ++threads) {
      const double before = rate(threads, seconds, [&] { stock.validate(json); });
      const double after = rate(threads, seconds, [&] { registry.validate(c.type, json); });
      std::printf("type=%s threads=%d stock_per_s=%.0f registry_per_s=%.0f speedup=%.1f\n", c.type,
                  threads, before, after, after / before);
      std::fflush(stdout);
    }
  }
  return 0;
}
