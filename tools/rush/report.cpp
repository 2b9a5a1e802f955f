#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "ticketing/common/json_writer.hpp"

namespace ticketing::rush {

namespace {

double percentile(std::vector<std::uint32_t>& us, double q) {
  if (us.empty()) return 0;
  auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us.size()))) - 1;
  k = std::min(k, us.size() - 1);
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(k), us.end());
  return us[k] / 1000.0;
}

struct Second {
  std::size_t requests = 0, holds = 0, confirms_paid = 0;
  double p50 = 0, p99 = 0;
};

std::vector<Second> timeline(const RushResult& r) {
  std::size_t n = r.samples.empty() ? 0 : r.samples.back().at_ms / 1000 + 1;
  std::vector<Second> secs(n);
  std::vector<std::vector<std::uint32_t>> lat(n);
  for (const auto& s : r.samples) {
    auto i = s.at_ms / 1000;
    ++secs[i].requests;
    // A long poll's time is waiting by design: not a latency.
    if (s.endpoint != Endpoint::kQueueWait) lat[i].push_back(s.took_us);
    if (s.endpoint == Endpoint::kHold && s.status == 201) ++secs[i].holds;
    if (s.endpoint == Endpoint::kPay && s.status == 201) ++secs[i].confirms_paid;
  }
  for (std::size_t i = 0; i < n; ++i) {
    secs[i].p50 = percentile(lat[i], 0.50);
    secs[i].p99 = percentile(lat[i], 0.99);
  }
  return secs;
}

}  // namespace

std::vector<EndpointStats> endpoint_stats(const std::vector<Sample>& samples) {
  std::vector<std::vector<std::uint32_t>> lat(static_cast<std::size_t>(Endpoint::kCount));
  std::vector<EndpointStats> out(lat.size());
  for (const auto& s : samples) {
    auto i = static_cast<std::size_t>(s.endpoint);
    lat[i].push_back(s.took_us);
    if (s.status == 0 || s.status >= 500) ++out[i].errors;
  }
  for (std::size_t i = 0; i < lat.size(); ++i) {
    out[i].name = to_string(static_cast<Endpoint>(i));
    out[i].count = lat[i].size();
    if (lat[i].empty()) continue;
    out[i].max_ms = *std::max_element(lat[i].begin(), lat[i].end()) / 1000.0;
    out[i].p50_ms = percentile(lat[i], 0.50);
    out[i].p95_ms = percentile(lat[i], 0.95);
    out[i].p99_ms = percentile(lat[i], 0.99);
  }
  return out;
}

namespace {

// Requests the system under test answered (every API call; the identity
// provider is not part of it).
std::size_t served_requests(const RushResult& r) {
  std::size_t n = 0;
  for (const auto& sample : r.samples)
    if (sample.endpoint != Endpoint::kIdToken) ++n;
  return n;
}
double served_per_second(const RushResult& r) {
  return r.seconds > 0 ? static_cast<double>(served_requests(r)) / r.seconds : 0;
}

std::string pipeline_text(const PipelineReport& p) {
  if (p.stages.empty() && !p.kafka && p.unreachable.empty()) return {};
  std::string s = fmt::format(
      "event pipeline, commit to effect (ms, from the services' own histograms)\n"
      "  {:<48} {:>8} {:>7} {:>7}\n",
      "stage", "count", "p50", "p99");
  for (const auto& st : p.stages)
    s +=
        fmt::format("  {:<48} {:>8} {:>7.1f} {:>7.1f}\n", st.stage, st.count, st.p50_ms, st.p99_ms);
  if (p.kafka)
    s += fmt::format("  {:<48} {:>8} {:>7.1f} {:>7.1f}\n",
                     "Kafka EndToEndLatency, same cluster (reference)", "", p.kafka->p50_ms,
                     p.kafka->p99_ms);
  for (const auto& u : p.unreachable) s += "  metrics not read: " + u + "\n";
  return s;
}

}  // namespace

std::string text_report(const RushConfig& cfg, const RushResult& r, const Tally& t,
                        const std::vector<Check>& checks, const ReportContext& ctx) {
  const auto& c = r.counters;
  std::string s;
  auto line = [&](std::string_view label, const std::string& value) {
    s += fmt::format("  {:<28} {}\n", label, value);
  };
  s += "ticket-open rush\n";
  line("users", fmt::format("{} ({} reservation-api, {} payment-api addresses)", c.users,
                            cfg.reservation_urls.size(), cfg.payment_urls.size()));
  line("queue tokens / admitted",
       fmt::format("{} / {} ({} after waiting)", c.tokens, c.admitted, c.admitted_after_waiting));
  line("hold attempts / holds", fmt::format("{} / {} ({} conflicts: 409 SEAT_UNAVAILABLE)",
                                            c.hold_attempts, c.holds, c.conflicts));
  line("never paid (hold expired)", std::to_string(c.never_paid));
  line("charges", fmt::format("{} ({} points)", c.charges, c.charged_points));
  line("payments accepted / refused",
       fmt::format("{} / {} (refused: hold expired, or unknown to payment-api until it expired)",
                   c.payments, c.payments_refused));
  line("late payers", fmt::format("{} (paid in the last {} ms of the hold)", c.late_payers,
                                  cfg.late_window.count()));
  line("confirmed / refunded (seen)", fmt::format("{} / {}", c.confirmed, c.refunded));
  line("gave up / place lapsed", fmt::format("{} / {}", c.gave_up, c.lapsed));
  line("left the sold-out queue", std::to_string(c.left_queue_sold_out));
  line("throttled (429, retried)", std::to_string(c.throttled));
  line("5xx (not 503) / transport errors",
       fmt::format("{} ({}) / {}", c.server_errors, c.server_errors_not_503, c.transport_errors));
  line("duration",
       fmt::format("{:.1f} s{}", r.seconds, r.timed_out ? " (time limit reached)" : ""));
  line("requests served", fmt::format("{} ({:.0f}/s over the rush; identity provider excluded)",
                                      served_requests(r), served_per_second(r)));
  {
    std::size_t polls = 0, long_polls = 0;
    for (const auto& sample : r.samples) {
      polls += sample.endpoint == Endpoint::kQueueStatus;
      long_polls += sample.endpoint == Endpoint::kQueueWait;
    }
    line("waiting buyers asked",
         cfg.long_poll.count() > 0
             ? fmt::format("{} long polls (waitSeconds={}, at most {} at once, peak {}) + {} polls",
                           long_polls, cfg.long_poll.count(), cfg.max_long_polls, r.long_polls_peak,
                           polls)
             : fmt::format("{} polls (every {} ms or more; no long polls)", polls,
                           cfg.poll_interval.count()));
  }
  if (!ctx.settings.empty()) {
    std::string settings;
    for (const auto& [name, value] : ctx.settings)
      settings += (settings.empty() ? "" : " ") + name + "=" + value;
    line("admission settings", settings);
  }
  line("time to sell out",
       r.sold_out_at >= 0
           ? fmt::format("{:.1f} s ({} seats; {:.1f} s from the first queue token)", r.sold_out_at,
                         t.seats, r.sold_out_at - std::max(0.0, r.first_token_at))
           : fmt::format("not sold out ({} of {} seats)", t.reserved_seats, t.seats));
  s += "system state (databases, fakes, Kafka)\n";
  line("seats RESERVED / HELD",
       fmt::format("{} / {} of {}", t.reserved_seats, t.held_seats, t.seats));
  line("reservations", fmt::format("{} CONFIRMED, {} EXPIRED, {} CANCELLED, {} HELD", t.confirmed,
                                   t.expired, t.cancelled, t.held));
  line("payments",
       fmt::format("{} COMPLETED, {} REFUNDED", t.payments_completed, t.payments_refunded));
  line("data platform",
       fmt::format("{} reservations accepted ({} requests)", t.delivered, t.delivery_attempts));
  line("notifications",
       fmt::format("{} your turn, {} seat held, {} payment, {} confirmed, {} hold expired, {} "
                   "refund ({} requests)",
                   t.notified_turns, t.notified_holds, t.notified_payments, t.notified_reservations,
                   t.notified_expiries, t.notified_refunds, t.notifications_received));
  line("dead letters (new)", std::to_string(t.total_dead_letters()));
  line("consumer lag", std::to_string(t.total_lag()));
  s += fmt::format("latency per endpoint (ms)\n  {:<34} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6}\n",
                   "endpoint", "calls", "p50", "p95", "p99", "max", "errors");
  for (const auto& e : endpoint_stats(r.samples)) {
    if (e.count == 0) continue;
    s += fmt::format("  {:<34} {:>7} {:>7.1f} {:>7.1f} {:>7.1f} {:>8.1f} {:>6}\n", e.name, e.count,
                     e.p50_ms, e.p95_ms, e.p99_ms, e.max_ms, e.errors);
  }
  s += pipeline_text(ctx.pipeline);
  s += "invariants\n";
  for (const auto& ch : checks)
    s += fmt::format("  {} {}: {}\n", ch.ok ? "ok  " : "FAIL", ch.name, ch.detail);
  for (const auto& p : r.problems) s += "  problem: " + p + "\n";
  return s;
}

std::string json_report(const RushConfig& cfg, const RushResult& r, const Tally& t,
                        const std::vector<Check>& checks, const ReportContext& ctx) {
  const auto& c = r.counters;
  ticketing::JsonWriter w;
  w.start_object();
  w.key("users").integer(c.users).key("threads").integer(cfg.threads);
  w.key("reservationApiInstances").integer(static_cast<std::int64_t>(cfg.reservation_urls.size()));
  w.key("paymentApiInstances").integer(static_cast<std::int64_t>(cfg.payment_urls.size()));
  w.key("buyers").start_object();
  w.key("tokens").integer(c.tokens).key("admitted").integer(c.admitted);
  w.key("admittedAfterWaiting").integer(c.admitted_after_waiting);
  w.key("holdAttempts")
      .integer(c.hold_attempts)
      .key("holds")
      .integer(c.holds)
      .key("conflicts")
      .integer(c.conflicts);
  w.key("neverPaid").integer(c.never_paid).key("latePayers").integer(c.late_payers);
  w.key("charges").integer(c.charges).key("chargedPoints").integer(c.charged_points);
  w.key("payments").integer(c.payments).key("paymentsRefused").integer(c.payments_refused);
  w.key("confirmed").integer(c.confirmed).key("refunded").integer(c.refunded);
  w.key("gaveUp")
      .integer(c.gave_up)
      .key("lapsed")
      .integer(c.lapsed)
      .key("leftSoldOutQueue")
      .integer(c.left_queue_sold_out);
  w.key("serverErrors")
      .integer(c.server_errors)
      .key("serverErrorsNot503")
      .integer(c.server_errors_not_503);
  w.key("throttled").integer(c.throttled);
  w.key("transportErrors").integer(c.transport_errors);
  w.key("unexpected").integer(c.unexpected);
  w.end_object();
  w.key("seconds").number(r.seconds);
  w.key("requestsServed").integer(static_cast<std::int64_t>(served_requests(r)));
  w.key("requestsPerSecond").number(served_per_second(r));
  w.key("longPollSeconds").integer(cfg.long_poll.count());
  w.key("longPollsPeak").integer(static_cast<std::int64_t>(r.long_polls_peak));
  w.key("settings").start_object();
  for (const auto& [name, value] : ctx.settings) w.key(name).string(value);
  w.end_object();
  w.key("pipeline").start_array();
  for (const auto& st : ctx.pipeline.stages) {
    w.start_object().key("stage").string(st.stage).key("service").string(st.service);
    w.key("topic").string(st.topic).key("count").integer(static_cast<std::int64_t>(st.count));
    w.key("p50Ms").number(st.p50_ms).key("p99Ms").number(st.p99_ms).end_object();
  }
  w.end_array();
  if (ctx.pipeline.kafka) {
    w.key("kafkaEndToEndLatency").start_object();
    w.key("p50Ms")
        .number(ctx.pipeline.kafka->p50_ms)
        .key("p99Ms")
        .number(ctx.pipeline.kafka->p99_ms);
    w.end_object();
  }
  if (r.sold_out_at >= 0)
    w.key("soldOutSeconds").number(r.sold_out_at);
  else
    w.key("soldOutSeconds").null();
  if (r.first_token_at >= 0) w.key("firstTokenSeconds").number(r.first_token_at);
  w.key("system").start_object();
  w.key("seats").integer(t.seats).key("reservedSeats").integer(t.reserved_seats);
  w.key("confirmed")
      .integer(t.confirmed)
      .key("expired")
      .integer(t.expired)
      .key("cancelled")
      .integer(t.cancelled);
  w.key("paymentsCompleted")
      .integer(t.payments_completed)
      .key("paymentsRefunded")
      .integer(t.payments_refunded);
  w.key("charges")
      .integer(t.charges)
      .key("payments")
      .integer(t.payments)
      .key("refunds")
      .integer(t.refunds);
  w.key("balances").integer(t.balances);
  w.key("dataPlatformDelivered")
      .integer(t.delivered)
      .key("dataPlatformRequests")
      .integer(t.delivery_attempts);
  w.key("reservationNotifications").integer(t.notified_reservations);
  w.key("paymentNotifications").integer(t.notified_payments);
  w.key("refundNotifications").integer(t.notified_refunds);
  w.key("seatHeldNotifications").integer(t.notified_holds);
  w.key("holdExpiredNotifications").integer(t.notified_expiries);
  w.key("yourTurnNotifications").integer(t.notified_turns);
  w.key("deadLetters").start_object();
  for (const auto& [topic, n] : t.dead_letters) w.key(topic).integer(n);
  w.end_object();
  w.key("lag").start_object();
  for (const auto& [g, n] : t.lag) w.key(g).integer(n);
  w.end_object();
  w.end_object();
  w.key("endpoints").start_array();
  for (const auto& e : endpoint_stats(r.samples)) {
    if (e.count == 0) continue;
    w.start_object()
        .key("endpoint")
        .string(e.name)
        .key("calls")
        .integer(static_cast<std::int64_t>(e.count));
    w.key("errors").integer(static_cast<std::int64_t>(e.errors));
    w.key("p50Ms").number(e.p50_ms).key("p95Ms").number(e.p95_ms).key("p99Ms").number(e.p99_ms);
    w.key("maxMs").number(e.max_ms).end_object();
  }
  w.end_array();
  w.key("invariants").start_array();
  for (const auto& ch : checks)
    w.start_object()
        .key("name")
        .string(ch.name)
        .key("ok")
        .boolean(ch.ok)
        .key("detail")
        .string(ch.detail)
        .end_object();
  w.end_array();
  w.end_object();
  return w.str();
}

std::string svg_chart(const RushResult& r) {
  auto secs = timeline(r);
  const double width = 960, panel = 170, left = 70, right = 20, top = 40, gap = 50;
  const double plot_w = width - left - right;
  const double height = top + 3 * panel + 2 * gap + 40;
  std::size_t n = std::max<std::size_t>(secs.size(), 2);
  double max_rate = 1, max_sales = 1, max_lat = 1;
  for (const auto& v : secs) {
    max_rate = std::max(max_rate, static_cast<double>(v.requests));
    max_sales =
        std::max({max_sales, static_cast<double>(v.holds), static_cast<double>(v.confirms_paid)});
    max_lat = std::max(max_lat, v.p99);
  }
  auto x = [&](double i) { return left + plot_w * i / static_cast<double>(n - 1); };
  std::string s = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif" font-size="12">)"
      "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      R"(<text x="{2}" y="22" font-size="15">Ticket-open rush: {3} buyers, {4:.0f} s</text>)"
      "\n",
      width, height, left, r.counters.users, r.seconds);
  // One panel: frame, y ticks, title, then a line per series.
  auto panel_at = [&](int k, double max, const std::string& title,
                      const std::vector<
                          std::pair<std::string, std::function<double(const Second&)>>>& series) {
    double y0 = top + k * (panel + gap);
    s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)"
                     "\n"
                     R"(<text x="{}" y="{}">{}</text>)"
                     "\n",
                     left, y0, plot_w, panel, left, y0 - 6, title);
    for (int t = 0; t <= 4; ++t) {
      double y = y0 + panel - panel * t / 4.0;
      s += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{:.0f}</text>)"
                       "\n",
                       left - 6, y + 4, max * t / 4.0);
    }
    for (const auto& [colour, value] : series) {
      std::string d;
      for (std::size_t i = 0; i < secs.size(); ++i)
        d += fmt::format("{}{:.1f},{:.1f}", i ? " L" : "M", x(static_cast<double>(i)),
                         y0 + panel - panel * value(secs[i]) / max);
      s += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="1.5"/>)"
                       "\n",
                       d, colour);
    }
    if (r.sold_out_at >= 0)
      s += fmt::format(
          R"(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}" stroke="#000" stroke-dasharray="4 3"/>)"
          "\n",
          x(r.sold_out_at), y0, y0 + panel);
  };
  panel_at(0, max_rate, "requests per second (all endpoints)",
           {{"#888", [](const Second& v) { return static_cast<double>(v.requests); }}});
  panel_at(1, max_sales, "per second: seats held (blue), payments accepted (green)",
           {{"#1f6feb", [](const Second& v) { return static_cast<double>(v.holds); }},
            {"#2da44e", [](const Second& v) { return static_cast<double>(v.confirms_paid); }}});
  panel_at(2, max_lat, "latency, all endpoints but long polls (ms): p50 (blue), p99 (red)",
           {{"#1f6feb", [](const Second& v) { return v.p50; }},
            {"#cf222e", [](const Second& v) { return v.p99; }}});
  double axis_y = top + 3 * panel + 2 * gap + 16;
  for (std::size_t i = 0; i < n; i += std::max<std::size_t>(1, n / 10))
    s += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}s</text>)"
                     "\n",
                     x(static_cast<double>(i)), axis_y, i);
  if (r.sold_out_at >= 0)
    s += fmt::format(R"(<text x="{:.1f}" y="{}">sold out</text>)"
                     "\n",
                     x(r.sold_out_at) + 4, top + 14);
  s += "</svg>\n";
  return s;
}

}  // namespace ticketing::rush
