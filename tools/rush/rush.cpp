// The rush: many buyers, each a small state machine (one method per step),
// driven by a pool of worker threads over keep-alive connections. Longer
// than 500 lines on purpose: the steps, the scheduler of due buyers and the
// counters are one class sharing one state; checks.cpp and report.cpp hold
// what does not need it.
#include "rush.hpp"

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "keepalive_client.hpp"
#include "long_poll.hpp"

namespace ticketing::rush {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const char* to_string(Endpoint e) {
  switch (e) {
    case Endpoint::kIdToken:
      return "POST {idp}/v1/id-tokens";
    case Endpoint::kToken:
      return "POST /v1/queue/tokens";
    case Endpoint::kQueueStatus:
      return "GET /v1/queue/status";
    case Endpoint::kQueueWait:
      return "GET /v1/queue/status (long poll)";
    case Endpoint::kConcerts:
      return "GET /v1/concerts";
    case Endpoint::kSchedules:
      return "GET /v1/concerts/{id}/schedules";
    case Endpoint::kSeats:
      return "GET /v1/schedules/{id}/seats";
    case Endpoint::kHold:
      return "POST /v1/reservations";
    case Endpoint::kCharge:
      return "POST /v1/points/charge";
    case Endpoint::kPay:
      return "POST /v1/payments";
    case Endpoint::kReservation:
      return "GET /v1/reservations/{id}";
    case Endpoint::kPayment:
      return "GET /v1/payments/{id}";
    case Endpoint::kCount:
      break;
  }
  return "?";
}

namespace {

enum class Step {
  kIdToken,
  kToken,
  kPoll,
  kConcerts,
  kSchedules,
  kSeats,
  kHold,
  kCharge,
  kPay,
  kWatch
};
enum class Persona { kPayer, kNeverPay, kLatePay };

struct Buyer {
  std::int64_t user_id = 0;
  Persona persona = Persona::kPayer;
  Step step = Step::kIdToken;
  std::size_t api = 0;
  std::size_t pay_api = 0;
  std::string id_token;  // from the identity provider
  std::string token;     // the queue token
  std::string client_address;
  std::vector<std::int64_t> concerts;
  std::size_t concert_index = 0;
  std::int64_t schedule = 0;
  int seat = 0;
  std::int64_t reservation = 0;
  std::string hold_receipt;
  std::int64_t price = 0;
  std::int64_t expires_ms = 0;
  std::int64_t payment = 0;
  Clock::time_point looking_since{};
  Clock::time_point paid_at{};
  int errors = 0;
  bool admitted = false;
  bool waited = false;  // answered WAITING at least once before being let in
  // A long poll's reply, set by the poller while the buyer is parked.
  std::optional<Reply> polled;
  std::uint32_t polled_at_ms = 0, polled_took_us = 0;
  bool poll_at_intervals = false;  // the last long poll was answered at once
  std::mt19937_64 rng;
};

// What step() returns for a buyer handed to the long poller.
constexpr Clock::time_point kParked = Clock::time_point::max();

struct Due {
  Clock::time_point at;
  std::uint32_t buyer;
  bool operator>(const Due& o) const { return at > o.at; }
};

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-24T08:50:00.123Z" -> unix millis; 0 when it does not parse.
std::int64_t parse_rfc3339_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  if (s.size() > 20 && s[19] == '.') ms = std::atoi(s.substr(20, 3).c_str());
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

class Rush {
 public:
  explicit Rush(const RushConfig& c) : cfg_(c) {
    if (cfg_.reservation_urls.empty() || cfg_.payment_urls.empty() || cfg_.idp_url.empty())
      throw std::invalid_argument("reservation, payment and identity provider URLs are required");
    std::mt19937_64 rng(cfg_.seed);
    std::uniform_real_distribution<double> share(0, 1);
    buyers_.resize(static_cast<std::size_t>(cfg_.users));
    for (std::size_t i = 0; i < buyers_.size(); ++i) {
      auto& b = buyers_[i];
      b.user_id = cfg_.first_user_id + static_cast<std::int64_t>(i);
      // A client address of its own in 10.0.0.0/8 (one per buyer up to 2^24).
      b.client_address = fmt::format("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
      double p = share(rng);
      b.persona = p < cfg_.never_pay_share                         ? Persona::kNeverPay
                  : p < cfg_.never_pay_share + cfg_.late_pay_share ? Persona::kLatePay
                                                                   : Persona::kPayer;
      b.api = i % cfg_.reservation_urls.size();
      b.pay_api = i % cfg_.payment_urls.size();
      b.rng.seed(cfg_.seed * 7919 + i);
    }
    samples_.resize(static_cast<std::size_t>(std::max(cfg_.threads, 1)));
  }

  RushResult run() {
    if (cfg_.long_poll.count() > 0)
      poller_ = std::make_unique<LongPoller>(cfg_.long_poll + 10s, cfg_.max_long_polls);
    start_ = Clock::now();
    remaining_ = buyers_.size();
    for (std::uint32_t i = 0; i < buyers_.size(); ++i) arriving_.push(Due{start_, i});
    std::vector<std::thread> workers;
    for (int t = 0; t < std::max(cfg_.threads, 1); ++t)
      workers.emplace_back([this, t] { work(static_cast<std::size_t>(t)); });
    std::thread progress([this] { report_progress(); });
    for (auto& w : workers) w.join();
    {
      std::lock_guard lk(mutex_);
      finished_ = true;
    }
    cv_.notify_all();
    progress.join();

    RushResult r;
    r.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    r.timed_out = timed_out_;
    if (poller_) r.long_polls_peak = poller_->peak();
    r.sold_out_at = sold_out_at_;
    std::lock_guard lk(result_mutex_);
    r.first_token_at = first_token_at_;
    r.counters = counters_;
    r.counters.users = static_cast<std::int64_t>(buyers_.size());
    r.confirmed_reservations = confirmed_;
    r.refunded_payments = refunded_;
    r.problems = problems_;
    for (auto& s : samples_) r.samples.insert(r.samples.end(), s.begin(), s.end());
    std::sort(r.samples.begin(), r.samples.end(),
              [](const Sample& a, const Sample& b) { return a.at_ms < b.at_ms; });
    return r;
  }

 private:
  // --- scheduling ---------------------------------------------------------
  void work(std::size_t worker) {
    KeepAliveClient client;
    std::unique_lock lk(mutex_);
    for (;;) {
      if (finished_) return;
      if (Clock::now() - start_ > cfg_.time_limit || (cfg_.cancel && cfg_.cancel->load())) {
        timed_out_ = remaining_ > 0;
        finished_ = true;
        cv_.notify_all();
        return;
      }
      // Admitted buyers first, then those in the queue, then new arrivals.
      // At 100,000 buyers the workers are busy for a minute with arrivals
      // alone: in one line by due time, a buyer in the queue would poll
      // only after every arrival due before it, and an admitted one would
      // learn of it after its turn had lapsed.
      const auto now = Clock::now();
      DueHeap* heap = nullptr;
      auto until = now + 200ms;
      for (DueHeap* h : {&active_, &queued_, &arriving_}) {
        if (h->empty()) continue;
        if (h->top().at <= now) {
          heap = h;
          break;
        }
        until = std::min(until, h->top().at);
      }
      if (heap == nullptr) {
        cv_.wait_until(lk, until);
        continue;
      }
      auto due = heap->top();
      heap->pop();
      lk.unlock();
      std::optional<Clock::time_point> next;
      try {
        next = step(buyers_[due.buyer], client, worker);
      } catch (const std::exception& e) {
        problem("driver", e.what());  // e.g. an answer that is not the documented JSON
        count(&Counters::unexpected);
      }
      lk.lock();
      if (next == kParked) {
        // The long poller hands the buyer back (park()).
      } else if (next) {
        heap_for(buyers_[due.buyer].step).push(Due{*next, due.buyer});
        cv_.notify_one();
      } else if (--remaining_ == 0) {
        finished_ = true;
        cv_.notify_all();
        return;
      }
    }
  }

  void report_progress() {
    if (!cfg_.on_progress) return;
    std::unique_lock lk(mutex_);
    std::size_t last_samples = 0;
    auto last = Clock::now();
    while (!finished_) {
      // The workers share cv_: wait for the tick, not for any wake-up.
      if (cv_.wait_until(lk, last + cfg_.progress_every, [this] { return finished_; })) break;
      lk.unlock();
      Counters c;
      std::size_t n = 0;
      {
        std::lock_guard rl(result_mutex_);
        c = counters_;
      }
      n = requests_.load();
      auto now = Clock::now();
      double rate = static_cast<double>(n - last_samples) /
                    std::max(1e-3, std::chrono::duration<double>(now - last).count());
      last_samples = n;
      last = now;
      cfg_.on_progress(fmt::format(
          "{:5.1f}s  tokens {}/{}  admitted {}  holds {} (conflicts {})  paid {}  confirmed {}{}  "
          "refunded {}  left {}  {:.0f} req/s",
          std::chrono::duration<double>(now - start_).count(), c.tokens, buyers_.size(), c.admitted,
          c.holds, c.conflicts, c.payments, c.confirmed,
          cfg_.total_seats > 0 ? fmt::format("/{}", cfg_.total_seats) : std::string(), c.refunded,
          c.gave_up + c.lapsed + c.left_queue_sold_out + c.never_paid + c.payments_refused, rate));
      lk.lock();
    }
  }

  // --- one step of one buyer ---------------------------------------------
  std::optional<Clock::time_point> step(Buyer& b, KeepAliveClient& client, std::size_t worker) {
    const auto now = Clock::now();
    switch (b.step) {
      case Step::kIdToken:
        return on_id_token(b, client, worker, now);
      case Step::kToken:
        return on_token(b, client, worker, now);
      case Step::kPoll:
        return on_poll(b, client, worker, now);
      case Step::kConcerts:
        return on_concerts(b, client, worker, now);
      case Step::kSchedules:
        return on_schedules(b, client, worker, now);
      case Step::kSeats:
        return on_seats(b, client, worker, now);
      case Step::kHold:
        return on_hold(b, client, worker, now);
      case Step::kCharge:
        return on_charge(b, client, worker, now);
      case Step::kPay:
        return on_pay(b, client, worker, now);
      case Step::kWatch:
        return on_watch(b, client, worker, now);
    }
    return std::nullopt;
  }

  std::optional<Clock::time_point> on_id_token(Buyer& b, KeepAliveClient& client,
                                               std::size_t worker, Clock::time_point now) {
    auto r = call(client, worker, Endpoint::kIdToken, cfg_.idp_url, "POST", "/v1/id-tokens",
                  fmt::format(R"({{"userId":{}}})", b.user_id), false, b);
    if (r.status == 200) {
      b.id_token = parse(r.body)["idToken"].GetString();
      b.step = Step::kToken;
      return now;
    }
    return retry_or_give_up(b, r, Endpoint::kIdToken, now);
  }

  std::optional<Clock::time_point> on_token(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                            Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    auto r = call(client, worker, Endpoint::kToken, res, "POST", "/v1/queue/tokens", {}, true, b);
    if (r.status == 200 || r.status == 201) {
      auto d = parse(r.body);
      b.token = d["token"].GetString();
      count(&Counters::tokens);
      {
        std::lock_guard lk(result_mutex_);
        if (first_token_at_ < 0)
          first_token_at_ = std::chrono::duration<double>(Clock::now() - start_).count();
      }
      return admitted_or_wait(b, std::string(d["status"].GetString()) == "ACTIVE", now,
                              wait_hint(d));
    }
    return retry_or_give_up(b, r, Endpoint::kToken, now);
  }

  std::optional<Clock::time_point> on_poll(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                           Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    if (b.polled) return on_long_poll(b, worker, now);
    if (sold_out_.load()) {
      count(&Counters::left_queue_sold_out);
      return std::nullopt;
    }
    if (poller_ && !b.poll_at_intervals) {
      if (park(b)) return kParked;
      b.poll_at_intervals = true;  // the poller is full: one poll, then wait an interval
    }
    auto r =
        call(client, worker, Endpoint::kQueueStatus, res, "GET", "/v1/queue/status", {}, true, b);
    if (r.status == 200) {
      auto d = parse(r.body);
      return admitted_or_wait(b, std::string(d["status"].GetString()) == "ACTIVE", now,
                              wait_hint(d));
    }
    return retry_or_give_up(b, r, Endpoint::kQueueStatus, now);
  }

  // Hands a waiting buyer to the long poller; false when it has no room.
  bool park(Buyer& b) {
    auto index = static_cast<std::uint32_t>(&b - buyers_.data());
    auto t0 = Clock::now();
    auto target = fmt::format("/v1/queue/status?waitSeconds={}&position=1", cfg_.long_poll.count());
    return poller_->submit(
        cfg_.reservation_urls[b.api], target, headers_for(Endpoint::kQueueWait, b),
        [this, index, t0](Reply r) {
          auto t1 = Clock::now();
          std::lock_guard lk(mutex_);
          auto& parked = buyers_[index];
          parked.polled_at_ms = static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::milliseconds>(t0 - start_).count());
          parked.polled_took_us = static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
          parked.polled = std::move(r);
          active_.push(Due{t1, index});  // may be an admission: read it first
          cv_.notify_one();
        });
  }

  // A long poll came back: admitted, still waiting (deadline), or an error.
  std::optional<Clock::time_point> on_long_poll(Buyer& b, std::size_t worker,
                                                Clock::time_point now) {
    Reply r = std::move(*b.polled);
    b.polled.reset();
    record(worker, Endpoint::kQueueWait, b.polled_at_ms, b.polled_took_us, r.status);
    if (r.status != 200) return retry_or_give_up(b, r, Endpoint::kQueueWait, now);
    auto d = parse(r.body);
    bool active = std::string(d["status"].GetString()) == "ACTIVE";
    // Answered at once while still waiting (the server had no room to park
    // it): poll at intervals for a while rather than spin.
    b.poll_at_intervals = !active && b.polled_took_us < 50'000;
    return admitted_or_wait(b, active, now, wait_hint(d));
  }

  std::optional<Clock::time_point> on_concerts(Buyer& b, KeepAliveClient& client,
                                               std::size_t worker, Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    if (looking_too_long(b, now)) return std::nullopt;
    auto r = call(client, worker, Endpoint::kConcerts, res, "GET", "/v1/concerts", {}, true, b);
    if (r.status == 200) {
      auto d = parse(r.body);
      b.concerts.clear();
      for (auto& c : d["concerts"].GetArray()) b.concerts.push_back(c["id"].GetInt64());
      std::shuffle(b.concerts.begin(), b.concerts.end(), b.rng);
      b.concert_index = 0;
      b.step = Step::kSchedules;
      return now;
    }
    return on_hold_path_error(b, r, Endpoint::kConcerts, now);
  }

  std::optional<Clock::time_point> on_schedules(Buyer& b, KeepAliveClient& client,
                                                std::size_t worker, Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    if (looking_too_long(b, now)) return std::nullopt;
    if (b.concert_index >= b.concerts.size()) {
      // Nothing free anywhere right now; held seats may come back.
      b.step = Step::kConcerts;
      return now + 1s;
    }
    auto r =
        call(client, worker, Endpoint::kSchedules, res, "GET",
             fmt::format("/v1/concerts/{}/schedules", b.concerts[b.concert_index]), {}, true, b);
    if (r.status == 200) {
      auto d = parse(r.body);
      std::vector<std::int64_t> open;
      for (auto& s : d["schedules"].GetArray())
        if (s["availableSeats"].GetInt64() > 0) open.push_back(s["id"].GetInt64());
      if (open.empty()) {
        ++b.concert_index;
        return now;
      }
      b.schedule = open[b.rng() % open.size()];
      b.step = Step::kSeats;
      return now;
    }
    return on_hold_path_error(b, r, Endpoint::kSchedules, now);
  }

  std::optional<Clock::time_point> on_seats(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                            Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    if (looking_too_long(b, now)) return std::nullopt;
    auto r = call(client, worker, Endpoint::kSeats, res, "GET",
                  fmt::format("/v1/schedules/{}/seats", b.schedule), {}, true, b);
    if (r.status == 200) {
      auto d = parse(r.body);
      std::vector<int> free;
      for (auto& s : d["seats"].GetArray())
        if (std::string_view(s["status"].GetString()) == "AVAILABLE")
          free.push_back(s["seatNo"].GetInt());
      if (free.empty()) {
        ++b.concert_index;
        b.step = Step::kSchedules;
        return now;
      }
      b.seat = free[b.rng() % free.size()];
      b.step = Step::kHold;
      return now;
    }
    return on_hold_path_error(b, r, Endpoint::kSeats, now);
  }

  std::optional<Clock::time_point> on_hold(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                           Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    count(&Counters::hold_attempts);
    auto r = call(client, worker, Endpoint::kHold, res, "POST", "/v1/reservations",
                  fmt::format(R"({{"scheduleId":{},"seatNo":{}}})", b.schedule, b.seat), true, b);
    if (r.status == 201) {
      auto d = parse(r.body);
      b.reservation = d["reservationId"].GetInt64();
      b.hold_receipt = d["holdReceipt"].GetString();
      b.price = d["price"].GetInt64();
      b.expires_ms = parse_rfc3339_ms(d["expiresAt"].GetString());
      count(&Counters::holds);
      if (b.persona == Persona::kNeverPay) {
        count(&Counters::never_paid);
        return std::nullopt;
      }
      if (b.persona == Persona::kLatePay) count(&Counters::late_payers);
      b.step = Step::kCharge;
      return now;
    }
    if (r.status == 409 && r.body.find("SEAT_UNAVAILABLE") != std::string::npos) {
      count(&Counters::conflicts);
      b.step = Step::kSeats;  // someone was faster: look at the seat map again
      return now;
    }
    return on_hold_path_error(b, r, Endpoint::kHold, now);
  }

  std::optional<Clock::time_point> on_charge(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                             Clock::time_point now) {
    const auto& pay = cfg_.payment_urls[b.pay_api];
    auto r = call(client, worker, Endpoint::kCharge, pay, "POST", "/v1/points/charge",
                  fmt::format(R"({{"amount":{}}})", b.price), true, b,
                  fmt::format("charge-{}", b.reservation));
    if (r.status == 200) {
      count(&Counters::charges);
      add(&Counters::charged_points, b.price);
      b.step = Step::kPay;
      if (b.persona == Persona::kLatePay) {
        // Pay in the last moments of the hold: some payments still get
        // in, are accepted, and then lose the race against the expiry.
        auto lead = std::chrono::milliseconds(b.rng() % (cfg_.late_window.count() + 1));
        auto wait = std::chrono::milliseconds(b.expires_ms - epoch_ms_now()) - lead;
        return now + std::max(wait, std::chrono::milliseconds(0));
      }
      return now;
    }
    return retry_or_give_up(b, r, Endpoint::kCharge, now);
  }

  std::optional<Clock::time_point> on_pay(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                          Clock::time_point now) {
    const auto& pay = cfg_.payment_urls[b.pay_api];
    auto r = call(
        client, worker, Endpoint::kPay, pay, "POST", "/v1/payments",
        fmt::format(R"({{"reservationId":{},"holdReceipt":"{}"}})", b.reservation, b.hold_receipt),
        true, b, fmt::format("pay-{}", b.reservation));
    if (r.status == 201) {
      auto d = parse(r.body);
      b.payment = d["paymentId"].GetInt64();
      b.paid_at = now;
      count(&Counters::payments);
      b.step = Step::kWatch;
      return now + 50ms;
    }
    if (r.status == 409 && r.body.find("RESERVATION_EXPIRED") != std::string::npos) {
      count(&Counters::payments_refused);  // too late: nothing was taken
      return std::nullopt;
    }
    if (r.status == 404) {
      // payment-api has not seen reservation.held yet (events can lag,
      // e.g. while a broker fails over): retry while the hold lasts.
      if (epoch_ms_now() < b.expires_ms + 1000) return now + 300ms;
      count(&Counters::payments_refused);
      return std::nullopt;
    }
    return retry_or_give_up(b, r, Endpoint::kPay, now);
  }

  std::optional<Clock::time_point> on_watch(Buyer& b, KeepAliveClient& client, std::size_t worker,
                                            Clock::time_point now) {
    const auto& res = cfg_.reservation_urls[b.api];
    const auto& pay = cfg_.payment_urls[b.pay_api];
    if (now - b.paid_at > cfg_.confirm_wait) {
      problem("outcome",
              fmt::format("reservation {}: no confirmation or refund seen", b.reservation));
      count(&Counters::unexpected);
      return std::nullopt;
    }
    auto r = call(client, worker, Endpoint::kReservation, res, "GET",
                  fmt::format("/v1/reservations/{}", b.reservation), {}, true, b);
    if (r.status != 200) return retry_or_give_up(b, r, Endpoint::kReservation, now);
    auto d = parse(r.body);
    std::string status = d["status"].GetString();
    if (status == "CONFIRMED") {
      confirmed(b.reservation);
      return std::nullopt;
    }
    if (status == "HELD") return now + 100ms;
    // EXPIRED or CANCELLED after a payment: the refund must follow.
    auto p = call(client, worker, Endpoint::kPayment, pay, "GET",
                  fmt::format("/v1/payments/{}", b.payment), {}, true, b);
    if (p.status == 200 && parse(p.body)["status"].GetString() == std::string("REFUNDED")) {
      std::lock_guard lk(result_mutex_);
      ++counters_.refunded;
      refunded_.push_back(b.payment);
      return std::nullopt;
    }
    return now + 200ms;
  }

  // The queue's own estimate, in milliseconds (0 when absent).
  static std::int64_t wait_hint(const rapidjson::Document& d) {
    auto it = d.FindMember("estimatedWaitSeconds");
    return it != d.MemberEnd() && it->value.IsNumber()
               ? static_cast<std::int64_t>(it->value.GetDouble() * 1000)
               : 0;
  }

  std::optional<Clock::time_point> admitted_or_wait(Buyer& b, bool active, Clock::time_point now,
                                                    std::int64_t estimated_wait_ms) {
    if (!active) {
      b.waited = true;
      b.step = Step::kPoll;
      if (poller_ && !b.poll_at_intervals) return now;  // straight into the next long poll
      b.poll_at_intervals = false;
      // Far back in the queue, ask less often (a third of the estimated
      // wait, at most 5 poll intervals); jitter keeps thousands of pollers
      // from arriving in lockstep.
      auto base = std::clamp(std::chrono::milliseconds(estimated_wait_ms / 3), cfg_.poll_interval,
                             cfg_.poll_interval * 5);
      auto jitter = std::chrono::milliseconds(b.rng() % (base.count() / 4 + 1));
      return now + base - base / 8 + jitter;
    }
    if (!b.admitted) {
      b.admitted = true;
      count(&Counters::admitted);
      if (b.waited) count(&Counters::admitted_after_waiting);
    }
    b.looking_since = now;
    b.step = Step::kConcerts;
    return now;
  }

  bool looking_too_long(Buyer& b, Clock::time_point now) {
    if (!sold_out_.load() && now - b.looking_since < cfg_.patience) return false;
    count(&Counters::gave_up);
    return true;
  }

  // Errors on the browse/hold path: a lapsed place sends the buyer back to the queue.
  std::optional<Clock::time_point> on_hold_path_error(Buyer& b, const Reply& r, Endpoint e,
                                                      Clock::time_point now) {
    if (r.status == 403 && r.body.find("QUEUE_NOT_ACTIVE") != std::string::npos) {
      b.step = Step::kPoll;
      return now + cfg_.poll_interval;
    }
    if (r.status == 401 && r.body.find("TOKEN_EXPIRED") != std::string::npos) {
      count(&Counters::lapsed);  // browsed longer than the queue's active TTL without a hold
      return std::nullopt;
    }
    return retry_or_give_up(b, r, e, now);
  }

  // 5xx and transport errors are retried (a service instance may be
  // restarting); anything else is a problem to report.
  std::optional<Clock::time_point> retry_or_give_up(Buyer& b, const Reply& r, Endpoint e,
                                                    Clock::time_point now) {
    if (r.status == 429) {  // throttled: a pause, then the same step again
      count(&Counters::throttled);
      return now + 1s;
    }
    if ((r.status == 0 || r.status >= 500) && ++b.errors <= cfg_.max_errors) {
      if (r.status == 0 && cfg_.reservation_urls.size() > 1 && is_reservation(e))
        b.api = (b.api + 1) % cfg_.reservation_urls.size();  // try the other instance
      if (r.status == 0 && cfg_.payment_urls.size() > 1 && !is_reservation(e))
        b.pay_api = (b.pay_api + 1) % cfg_.payment_urls.size();
      return now + 250ms;
    }
    problem(to_string(e),
            fmt::format("HTTP {} {}", r.status, r.status ? r.body.substr(0, 160) : r.error));
    count(&Counters::unexpected);
    return std::nullopt;
  }

  static bool is_reservation(Endpoint e) {
    return e != Endpoint::kCharge && e != Endpoint::kPay && e != Endpoint::kPayment;
  }

  std::map<std::string, std::string> headers_for(Endpoint e, const Buyer& b,
                                                 bool auth = true) const {
    std::map<std::string, std::string> headers;
    // The queue-token request proves who the buyer is with the ID token.
    if (auth) headers["Authorization"] = "Bearer " + (e == Endpoint::kToken ? b.id_token : b.token);
    if (cfg_.forwarded_for && e != Endpoint::kIdToken && !b.client_address.empty())
      headers["X-Forwarded-For"] = b.client_address;
    return headers;
  }

  Reply call(KeepAliveClient& client, std::size_t worker, Endpoint e, const std::string& base,
             const std::string& method, const std::string& target, const std::string& body,
             bool auth, const Buyer& b, const std::string& idempotency_key = {}) {
    auto headers = headers_for(e, b, auth);
    if (!idempotency_key.empty()) headers["Idempotency-Key"] = idempotency_key;
    auto t0 = Clock::now();
    auto r = client.send(base, method, target, body, headers);
    auto t1 = Clock::now();
    record(worker, e,
           static_cast<std::uint32_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(t0 - start_).count()),
           static_cast<std::uint32_t>(
               std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()),
           r.status);
    return r;
  }

  void record(std::size_t worker, Endpoint e, std::uint32_t at_ms, std::uint32_t took_us,
              int status) {
    samples_[worker].push_back(Sample{at_ms, took_us, e, static_cast<std::uint16_t>(status)});
    requests_.fetch_add(1);
    if (status == 0) count(&Counters::transport_errors);
    if (status >= 500) count(&Counters::server_errors);
    if (status >= 500 && status != 503) count(&Counters::server_errors_not_503);
  }

  static rapidjson::Document parse(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    if (d.HasParseError() || !d.IsObject())
      throw std::runtime_error("answer is not a JSON object: " + body.substr(0, 120));
    return d;
  }

  void confirmed(std::int64_t reservation) {
    std::lock_guard lk(result_mutex_);
    ++counters_.confirmed;
    confirmed_.push_back(reservation);
    if (cfg_.total_seats > 0 && counters_.confirmed >= cfg_.total_seats && !sold_out_.load()) {
      sold_out_at_ = std::chrono::duration<double>(Clock::now() - start_).count();
      sold_out_ = true;
    }
  }

  void count(std::int64_t Counters::*field) { add(field, 1); }
  void add(std::int64_t Counters::*field, std::int64_t n) {
    std::lock_guard lk(result_mutex_);
    counters_.*field += n;
  }

  void problem(const std::string& kind, const std::string& text) {
    std::lock_guard lk(result_mutex_);
    if (++problem_kinds_[kind] <= 5) problems_.push_back(kind + ": " + text);
  }

  RushConfig cfg_;
  std::vector<Buyer> buyers_;
  std::vector<std::vector<Sample>> samples_;
  Clock::time_point start_;

  std::mutex mutex_;  // the two heaps, remaining, finished
  std::condition_variable cv_;
  using DueHeap = std::priority_queue<Due, std::vector<Due>, std::greater<>>;
  DueHeap active_;    // admitted buyers, and answered long polls: served first when due
  DueHeap queued_;    // buyers with an ID token: their queue token, then polls
  DueHeap arriving_;  // buyers yet to get an ID token
  DueHeap& heap_for(Step step) {
    if (step >= Step::kConcerts) return active_;
    return step == Step::kIdToken ? arriving_ : queued_;
  }
  std::size_t remaining_ = 0;
  bool finished_ = false;
  bool timed_out_ = false;

  std::mutex result_mutex_;
  Counters counters_;
  std::vector<std::int64_t> confirmed_;
  std::vector<std::int64_t> refunded_;
  std::vector<std::string> problems_;
  std::map<std::string, int> problem_kinds_;
  std::atomic<bool> sold_out_{false};
  std::atomic<std::size_t> requests_{0};
  double sold_out_at_ = -1;
  double first_token_at_ = -1;  // result_mutex_
  // Last: destroyed first, so no reply arrives once the rest is gone.
  std::unique_ptr<LongPoller> poller_;
};

}  // namespace

RushResult run_rush(const RushConfig& config) {
  return Rush(config).run();
}

}  // namespace ticketing::rush
