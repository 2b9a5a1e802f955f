// tools/rush's reading of the services' commit-to-effect histograms.
#include <catch2/catch.hpp>

#include <limits>
#include <map>
#include <string>

#include "pipeline.hpp"

using ticketing::rush::add_buckets;
using ticketing::rush::histogram_quantile_ms;

TEST_CASE("bucket counts of two instances are merged per topic") {
  const std::string a =
      "# TYPE events_commit_to_effect_seconds histogram\n"
      "events_commit_to_effect_seconds_bucket{topic=\"payment.completed\",le=\"0.01\"} 90\n"
      "events_commit_to_effect_seconds_bucket{topic=\"payment.completed\",le=\"0.1\"} 99\n"
      "events_commit_to_effect_seconds_bucket{topic=\"payment.completed\",le=\"+Inf\"} 100\n"
      "events_commit_to_effect_seconds_sum{topic=\"payment.completed\"} 1.5\n"
      "events_consumed_total{topic=\"payment.completed\",result=\"ok\"} 100\n";
  const std::string b =
      "events_commit_to_effect_seconds_bucket{topic=\"payment.completed\",le=\"0.01\"} 10\n"
      "events_commit_to_effect_seconds_bucket{topic=\"payment.completed\",le=\"0.1\"} 100\n"
      "events_commit_to_effect_seconds_bucket{topic=\"payment.completed\",le=\"+Inf\"} 100\n"
      "events_commit_to_effect_seconds_bucket{topic=\"seats.expired\",le=\"+Inf\"} 3\n";
  std::map<std::string, std::map<double, std::uint64_t>> into;
  add_buckets(a, "events_commit_to_effect_seconds", "topic", into);
  add_buckets(b, "events_commit_to_effect_seconds", "topic", into);
  REQUIRE(into.size() == 2);
  const auto& paid = into["payment.completed"];
  CHECK(paid.at(0.01) == 100);
  CHECK(paid.at(0.1) == 199);
  CHECK(paid.at(std::numeric_limits<double>::infinity()) == 200);
  CHECK(into["seats.expired"].size() == 1);
  // Another histogram, by another label, from the same text.
  std::map<std::string, std::map<double, std::uint64_t>> outbox;
  add_buckets("outbox_publish_lag_seconds_bucket{table=\"r.outbox\",le=\"0.005\"} 7\n" + a,
              "outbox_publish_lag_seconds", "table", outbox);
  REQUIRE(outbox.size() == 1);
  CHECK(outbox["r.outbox"].at(0.005) == 7);
}

TEST_CASE("quantiles are interpolated within their bucket") {
  const double inf = std::numeric_limits<double>::infinity();
  // 100 events: 50 up to 10 ms, 40 more up to 20 ms, 10 more up to 100 ms.
  std::map<double, std::uint64_t> h{{0.01, 50}, {0.02, 90}, {0.1, 100}, {inf, 100}};
  CHECK(histogram_quantile_ms(h, 0.5) == Approx(10.0));
  CHECK(histogram_quantile_ms(h, 0.7) == Approx(15.0));
  CHECK(histogram_quantile_ms(h, 0.99) == Approx(92.0));
  // Beyond the last finite bound: that bound, as the least it can be.
  std::map<double, std::uint64_t> slow{{0.01, 1}, {inf, 10}};
  CHECK(histogram_quantile_ms(slow, 0.99) == Approx(10.0));
  CHECK(histogram_quantile_ms({}, 0.99) == 0);
}
