// reservation-api measured against references, driven by bench/bench-reservation.sh:
//   prepare      extra schedules (2 copies x N schedules x 50 seats) in the
//                benchmark database, plus `bench_outbox` (same definition as
//                the service's outbox, never relayed) for the SQL reference;
//   holds-http   N keep-alive HTTP/1.1 connections, each POSTing holds on its
//                own fresh seats (tokens fetched before the clock starts);
//   holds-sql    the same hold transaction (the statements of
//                ReservationStore::hold, READ COMMITTED, with a ~600-byte
//                outbox row) from N threads with libs/db prepared statements;
//   tokens-http  N keep-alive connections, each POSTing /v1/queue/tokens for
//                its own new users (their ID tokens fetched before the clock
//                starts): each call files a new user in the queue;
//   tokens-lua   the same queue-join Lua script (QueueStore::enter, the
//                service's own code) driven directly against Redis from N
//                threads, for as many new users;
//   token / get  an ACTIVE token for a user / the exact body of one GET;
//   cleanup      drops the database and the Redis keys of the prefix.
// Figures are printed as one `key=value` line, read by the script. One file
// on purpose (over 500 lines): each command is a few functions, and the SQL
// reference must stay next to the HTTP side it is compared with.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "store/queue_store.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/outbox/outbox.hpp"
#include "ticketing/redis/client.hpp"
#include "ticketing/redis/options.hpp"
#include "ticketing/redis/pool.hpp"

using namespace std::chrono;
namespace db = ticketing::db;
namespace redis = ticketing::redis;
namespace reservation = ticketing::reservation;
using ticketing::new_uuid;

namespace {

constexpr int kSeats = 50;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[idx];
}

// ---------------------------------------------------------------- HTTP client
struct HttpResponse {
  int status = 0;
  std::string body;
};

// One keep-alive HTTP/1.1 connection to 127.0.0.1:port; Content-Length bodies only.
class KeepAlive {
 public:
  explicit KeepAlive(unsigned short port) : port_(port) {}
  ~KeepAlive() { close_fd(); }
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;

  HttpResponse send(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty() || method == "POST") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    req += "\r\n" + body;
    for (int attempt = 0;; ++attempt) {
      try {
        if (fd_ < 0) connect_fd();
        write_all(req);
        return read_response();
      } catch (const std::exception&) {
        close_fd();
        if (attempt >= 1) throw;
      }
    }
  }

 private:
  void connect_fd() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close_fd();
      throw std::runtime_error("connect failed");
    }
    buf_.clear();
  }
  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  void write_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<std::size_t>(n);
    }
  }
  void fill() {
    char tmp[16384];
    auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error("connection closed");
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
  HttpResponse read_response() {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) fill();
    HttpResponse r;
    std::string head = buf_.substr(0, end);
    if (head.size() < 12) throw std::runtime_error("bad status line");
    r.status = std::atoi(head.c_str() + 9);
    std::size_t length = 0;
    bool close_after = false;
    std::size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string::npos) {
      pos += 2;
      auto eol = head.find("\r\n", pos);
      std::string line = head.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      std::string lower = line;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
      if (lower.rfind("transfer-encoding:", 0) == 0)
        throw std::runtime_error("chunked bodies are not supported");
      if (lower.rfind("connection:", 0) == 0 && lower.find("close") != std::string::npos)
        close_after = true;
    }
    auto body_start = end + 4;
    while (buf_.size() < body_start + length) fill();
    r.body = buf_.substr(body_start, length);
    buf_.erase(0, body_start + length);
    if (close_after) close_fd();
    return r;
  }

  unsigned short port_;
  int fd_ = -1;
  std::string buf_;
};

std::string json_string_field(const std::string& body, const std::string& name) {
  auto key = "\"" + name + "\":\"";
  auto p = body.find(key);
  if (p == std::string::npos) return {};
  p += key.size();
  auto e = body.find('"', p);
  return body.substr(p, e - p);
}

// An ID token for `user` from the development identity provider at IDP_URL
// (http://127.0.0.1:PORT, from scripts/stack.sh env).
std::string id_token(std::int64_t user) {
  const char* url = std::getenv("IDP_URL");
  std::string s = url != nullptr ? url : "";
  auto colon = s.rfind(':');
  if (s.rfind("http://127.0.0.1:", 0) != 0 || colon == std::string::npos)
    throw std::runtime_error("IDP_URL must be http://127.0.0.1:PORT (scripts/stack.sh env)");
  KeepAlive idp(static_cast<unsigned short>(std::stoi(s.substr(colon + 1))));
  auto r = idp.send("POST", "/v1/id-tokens", "", fmt::format("{{\"userId\":{}}}", user));
  if (r.status != 200) throw std::runtime_error(fmt::format("dev-idp: {} {}", r.status, r.body));
  return json_string_field(r.body, "idToken");
}

// A token for `user`, waiting until the queue lets it in (ACTIVE).
std::string active_token(KeepAlive& http, std::int64_t user) {
  auto r = http.send("POST", "/v1/queue/tokens", id_token(user), "");
  if (r.status != 200 && r.status != 201)
    throw std::runtime_error(fmt::format("POST /v1/queue/tokens: {} {}", r.status, r.body));
  auto token = json_string_field(r.body, "token");
  auto deadline = steady_clock::now() + seconds(20);
  while (json_string_field(r.body, "status") != "ACTIVE") {
    if (steady_clock::now() > deadline) throw std::runtime_error("token never became ACTIVE");
    std::this_thread::sleep_for(milliseconds(50));
    r = http.send("GET", "/v1/queue/status", token, "");
  }
  return token;
}

// ------------------------------------------------------------------ the load
struct Plan {
  std::int64_t first_schedule;
  int schedules;
  int conns;
  int holds_per_user;
  std::int64_t user_base;
  double seconds;
  // Connection c owns seats [c*per, (c+1)*per) of the copy; seat index k is
  // schedule first + k/50, seat k%50+1, held by user user_base + k/holds_per_user
  // (per is a multiple of holds_per_user, so a user's holds share a connection
  // and never race each other).
  [[nodiscard]] int per_conn() const {
    int per = schedules * kSeats / conns;
    return per - per % holds_per_user;
  }
  [[nodiscard]] std::int64_t schedule_of(int k) const { return first_schedule + k / kSeats; }
  [[nodiscard]] int seat_of(int k) const { return k % kSeats + 1; }
  [[nodiscard]] std::int64_t user_of(int k) const { return user_base + k / holds_per_user; }
};

Plan parse_plan(char** argv) {
  Plan p{};
  p.conns = std::atoi(argv[0]);
  p.seconds = std::atof(argv[1]);
  p.first_schedule = std::atoll(argv[2]);
  p.schedules = std::atoi(argv[3]);
  p.holds_per_user = std::atoi(argv[4]);
  p.user_base = std::atoll(argv[5]);
  if (p.conns < 1 || p.holds_per_user < 1 || p.per_conn() < p.holds_per_user)
    throw std::invalid_argument("bad plan");
  return p;
}

struct Totals {
  std::mutex m;
  std::vector<double> latency_ms;
  long ok = 0;
  long errors = 0;
  std::string first_error;
  void add(const std::vector<double>& lat, long ok_n, long err_n, const std::string& err) {
    std::lock_guard lock(m);
    latency_ms.insert(latency_ms.end(), lat.begin(), lat.end());
    ok += ok_n;
    errors += err_n;
    if (first_error.empty()) first_error = err;
  }
};

// Runs `one(k)` (true = success) on each connection's seats until its seats
// run out or the time is up; prints the figures.
template <typename Setup, typename One>
int run_load(const char* label, const Plan& plan, Setup setup, One one) {
  Totals totals;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> setup_failed{false};
  steady_clock::time_point start;
  std::vector<std::thread> threads;
  std::vector<steady_clock::time_point> finished(static_cast<std::size_t>(plan.conns));
  auto attempt = [&one](auto& state, int k, std::string& error) {
    try {
      return one(state, k, error);
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
  };
  for (int c = 0; c < plan.conns; ++c) {
    threads.emplace_back([&, c] {
      int lo = c * plan.per_conn();
      int hi = lo + plan.per_conn();
      std::vector<double> lat;
      long ok = 0;
      long err = 0;
      std::string first_error;
      decltype(setup(c, lo, hi)) state;
      try {
        state = setup(c, lo, hi);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: setup of connection %d failed: %s\n", label, c, e.what());
        setup_failed = true;
      }
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::sleep_for(microseconds(200));
      auto deadline = start + duration_cast<steady_clock::duration>(duration<double>(plan.seconds));
      // Any connection's failed setup spoils the run: none starts.
      const int end = setup_failed ? lo : hi;
      for (int k = lo; k < end && steady_clock::now() < deadline; ++k) {
        auto t0 = steady_clock::now();
        std::string error;
        const bool success = attempt(state, k, error);
        auto t1 = steady_clock::now();
        if (success) {
          ++ok;
          lat.push_back(duration<double, std::milli>(t1 - t0).count());
        } else {
          ++err;
          if (first_error.empty()) first_error = error;
        }
      }
      finished[static_cast<std::size_t>(c)] = steady_clock::now();
      totals.add(lat, ok, err, first_error);
    });
  }
  while (ready.load() < plan.conns) std::this_thread::sleep_for(milliseconds(1));
  start = steady_clock::now();
  go = true;
  for (auto& t : threads) t.join();
  if (setup_failed) return 1;
  auto end = *std::max_element(finished.begin(), finished.end());
  double secs = duration<double>(end - start).count();
  if (!totals.first_error.empty())
    std::fprintf(stderr, "%s: first error: %s\n", label, totals.first_error.c_str());
  std::printf(
      "mode=%s conns=%d holds=%ld errors=%ld seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f\n",
      label, plan.conns, totals.ok, totals.errors, secs, static_cast<double>(totals.ok) / secs,
      percentile(totals.latency_ms, 0.50), percentile(totals.latency_ms, 0.99));
  return totals.errors == 0 ? 0 : 3;
}

struct HttpConn {
  std::unique_ptr<KeepAlive> http;
  std::vector<std::string> tokens;  // index (k - lo) / holds_per_user
  int lo = 0;
};

int holds_http(unsigned short port, const Plan& plan) {
  auto setup = [&](int, int lo, int hi) {
    HttpConn s;
    s.http = std::make_unique<KeepAlive>(port);
    s.lo = lo;
    for (int k = lo; k < hi; k += plan.holds_per_user)
      s.tokens.push_back(active_token(*s.http, plan.user_of(k)));
    return s;
  };
  auto one = [&](HttpConn& s, int k, std::string& error) {
    const auto& token = s.tokens[static_cast<std::size_t>((k - s.lo) / plan.holds_per_user)];
    auto r = s.http->send(
        "POST", "/v1/reservations", token,
        fmt::format("{{\"scheduleId\":{},\"seatNo\":{}}}", plan.schedule_of(k), plan.seat_of(k)));
    if (r.status != 201) error = fmt::format("{} {}", r.status, r.body);
    return r.status == 201;
  };
  return run_load("holds-http", plan, setup, one);
}

// ------------------------------------------------------------ queue tokens
// Connection c files users user_base + [c*per, (c+1)*per); `per` is a
// multiple of 50 so that the plan's seat arithmetic gives exactly that.
Plan token_plan(char** argv) {
  Plan p{};
  p.conns = std::atoi(argv[0]);
  p.seconds = std::atof(argv[1]);
  p.user_base = std::atoll(argv[2]);
  const int per = std::atoi(argv[3]);
  p.holds_per_user = 1;
  if (p.conns < 1 || per < kSeats || per % kSeats != 0)
    throw std::invalid_argument("bad plan: per-connection users must be a multiple of 50");
  p.schedules = p.conns * per / kSeats;
  return p;
}

struct TokenConn {
  std::unique_ptr<KeepAlive> http;
  std::vector<std::string> id_tokens;  // index k - lo
  int lo = 0;
};

int tokens_http(unsigned short port, const Plan& plan) {
  auto setup = [&](int, int lo, int hi) {
    TokenConn s;
    s.http = std::make_unique<KeepAlive>(port);
    s.lo = lo;
    for (int k = lo; k < hi; ++k) s.id_tokens.push_back(id_token(plan.user_of(k)));
    return s;
  };
  auto one = [&](TokenConn& s, int k, std::string& error) {
    auto r = s.http->send("POST", "/v1/queue/tokens",
                          s.id_tokens[static_cast<std::size_t>(k - s.lo)], "");
    if (r.status != 201) error = fmt::format("{} {}", r.status, r.body);
    return r.status == 201;
  };
  return run_load("tokens-http", plan, setup, one);
}

int tokens_lua(const std::string& redis_url, const std::string& prefix, const Plan& plan) {
  redis::Pool pool(redis::parse_url(redis_url), static_cast<std::size_t>(plan.conns));
  reservation::QueueOptions options;
  options.prefix = prefix;
  // As the service under test is configured by bench-reservation.sh
  // (QUEUE_MAX_ACTIVE=1000000), so that both run the same script path.
  options.max_active = 1'000'000;
  options.max_waiting = 1'000'000'000;
  reservation::QueueStore queue(pool, options);
  // A token string as long as a real one (the script stores it).
  const std::string padding(120, 't');
  auto setup = [](int, int, int) { return 0; };
  auto one = [&](int&, int k, std::string& error) {
    const auto token_id = new_uuid();
    auto entered = queue.enter(plan.user_of(k), token_id, token_id + padding);
    if (!entered.created) error = entered.full ? "queue full" : "not created";
    return entered.created;
  };
  return run_load("tokens-lua", plan, setup, one);
}

// --------------------------------------------------------------- SQL client
std::string db_time(system_clock::time_point t) {
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03}", buf, ms % 1000);
}

std::string rfc3339(system_clock::time_point t) {
  auto s = db_time(t);
  s[10] = 'T';
  return s + "Z";
}

// A reservation.held envelope of the service's size (~600 bytes).
std::string held_payload(std::int64_t reservation, std::int64_t user, std::int64_t schedule,
                         int seat, const std::string& held_at, const std::string& expires_at) {
  return fmt::format(
      R"({{"eventId":"0192f3a4-7b1c-7d2e-9f00-{:012x}","eventType":"reservation.held",)"
      R"("schemaVersion":1,"occurredAt":"{}","producer":"reservation-api",)"
      R"("traceId":"4bf92f3577b34da6a3ce929d0e0e4736",)"
      R"("data":{{"reservationId":{},"userId":{},"concertId":1,"scheduleId":{},"seatNo":{},)"
      R"("price":100000,"heldAt":"{}","expiresAt":"{}"}},)"
      R"("metadata":{{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",)"
      R"("source":"reservation-api","partitionKey":"{}","contentType":"application/json",)"
      R"("schema":"proto-schemas/reservation.held.schema.json","padding":"{}"}}}})",
      reservation, held_at, reservation, user, schedule, seat, held_at, expires_at, reservation,
      std::string(96, 'x'));
}

int holds_sql(const std::string& url, const std::string& database, const Plan& plan) {
  auto setup = [&](int, int, int) {
    auto opts = db::parse_url(url);
    opts.database = database;
    return std::make_unique<db::Connection>(opts);
  };
  auto one = [&](std::unique_ptr<db::Connection>& c, int k, std::string& error) {
    auto& conn = *c;
    auto schedule = plan.schedule_of(k);
    auto seat = plan.seat_of(k);
    auto user = plan.user_of(k);
    auto held = system_clock::now();
    auto expires = held + seconds(300);
    auto now_db = db_time(held);
    auto expires_db = db_time(expires);
    db::Transaction tx(conn, db::Isolation::kReadCommitted);
    auto sched = conn.query_one("SELECT concert_id FROM schedules WHERE id = ?", {schedule});
    if (!sched) {
      error = "schedule missing";
      return false;
    }
    conn.exec(
        "INSERT INTO hold_owners (user_id) VALUES (?) ON DUPLICATE KEY UPDATE user_id = user_id",
        {user});
    auto live = conn.query_one(
        "SELECT COUNT(*) AS n FROM reservations WHERE user_id = ? AND status = 'HELD' AND "
        "expires_at > ?",
        {user, now_db});
    if (live && live->i64("n") >= plan.holds_per_user) {
      error = "hold limit";
      return false;
    }
    auto row = conn.query_one(
        "SELECT status, price, held_by_reservation, hold_expires_at FROM seats"
        " WHERE schedule_id = ? AND seat_no = ? FOR UPDATE",
        {schedule, seat});
    if (!row || row->str("status") != "AVAILABLE") {
      error = "seat unavailable";
      return false;
    }
    auto price = row->i64("price");
    auto reservation = static_cast<std::int64_t>(
        conn.exec("INSERT INTO reservations (user_id, schedule_id, seat_no, price, status, "
                  "held_at, expires_at) VALUES (?, ?, ?, ?, 'HELD', ?, ?)",
                  {user, schedule, seat, price, now_db, expires_db})
            .last_insert_id);
    auto updated = conn.exec(
        "UPDATE seats SET status = 'HELD', held_by_reservation = ?, hold_expires_at = ?, version "
        "= version + 1 WHERE schedule_id = ? AND seat_no = ?"
        " AND (status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at <= ?))",
        {reservation, expires_db, schedule, seat, now_db});
    if (updated.affected_rows != 1) {
      error = "update lost";
      return false;
    }
    ticketing::outbox::OutboxRow out;
    out.topic = "reservation.held";
    out.key = std::to_string(reservation);
    out.payload = held_payload(reservation, user, schedule, seat, rfc3339(held), rfc3339(expires));
    out.headers = {{"event-type", "reservation.held"},
                   {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
    ticketing::outbox::append(conn, out, "bench_outbox");
    tx.commit();
    return true;
  };
  return run_load("holds-sql", plan, setup, one);
}

// ------------------------------------------------------------------ helpers
int prepare(const std::string& url, const std::string& database, int schedules) {
  auto opts = db::parse_url(url);
  opts.database = database;
  db::Connection conn(opts);
  conn.exec_raw(ticketing::outbox::create_table_sql("bench_outbox"));
  db::Transaction tx(conn);
  auto concert = static_cast<std::int64_t>(
      conn.exec("INSERT INTO concerts (title, venue) VALUES ('Benchmark Night', 'Loopback Hall')")
          .last_insert_id);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 2 * schedules; ++i) {
    ids.push_back(static_cast<std::int64_t>(
        conn.exec("INSERT INTO schedules (concert_id, starts_at) VALUES (?, ?)",
                  {concert, fmt::format("2028-01-01 19:00:00.{:03}", i % 1000)})
            .last_insert_id));
    std::string sql = "INSERT INTO seats (schedule_id, seat_no, price) VALUES ";
    for (int s = 1; s <= kSeats; ++s) {
      sql += fmt::format("{}({}, {}, {})", s == 1 ? "" : ", ", ids.back(), s,
                         s <= 10   ? 150000
                         : s <= 30 ? 100000
                                   : 70000);
    }
    conn.exec_raw(sql);
  }
  tx.commit();
  for (std::size_t i = 1; i < ids.size(); ++i) {
    if (ids[i] != ids[i - 1] + 1) throw std::runtime_error("schedule ids are not contiguous");
  }
  std::printf("http_first=%lld sql_first=%lld\n", static_cast<long long>(ids.front()),
              static_cast<long long>(ids[static_cast<std::size_t>(schedules)]));
  return 0;
}

int cleanup(const std::string& url, const std::string& database, const std::string& redis_url,
            const std::string& prefix) {
  int rc = 0;
  try {
    db::Connection conn(db::parse_url(url));
    conn.exec_raw("DROP DATABASE IF EXISTS `" + database + "`");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drop database: %s\n", e.what());
    rc = 1;
  }
  try {
    ticketing::redis::Client redis(ticketing::redis::parse_url(redis_url));
    std::string cursor = "0";
    do {
      auto r = redis.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"});
      cursor = r.as_array()[0].as_string();
      std::vector<std::string> del{"DEL"};
      for (const auto& k : r.as_array()[1].as_array()) del.push_back(k.as_string());
      if (del.size() > 1) redis.command(del);
    } while (cursor != "0");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis cleanup: %s\n", e.what());
    rc = 1;
  }
  return rc;
}

int usage() {
  std::fprintf(stderr,
               "usage: reservation_bench prepare <mysql-url> <db> <schedules>\n"
               "       reservation_bench holds-http <port> <conns> <seconds> <first-schedule> "
               "<schedules> <holds-per-user> <user-base>\n"
               "       reservation_bench holds-sql <mysql-url> <db> <conns> <seconds> "
               "<first-schedule> <schedules> <holds-per-user> <user-base>\n"
               "       reservation_bench tokens-http <port> <conns> <seconds> <user-base> "
               "<users-per-conn>\n"
               "       reservation_bench tokens-lua <redis-url> <prefix> <conns> <seconds> "
               "<user-base> <users-per-conn>\n"
               "       reservation_bench token <port> <user>\n"
               "       reservation_bench get <port> <token> <path>\n"
               "       reservation_bench cleanup <mysql-url> <db> <redis-url> <prefix>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string mode = argv[1];
  try {
    if (mode == "prepare" && argc == 5) return prepare(argv[2], argv[3], std::atoi(argv[4]));
    if (mode == "holds-http" && argc == 9)
      return holds_http(static_cast<unsigned short>(std::atoi(argv[2])), parse_plan(argv + 3));
    if (mode == "holds-sql" && argc == 10) return holds_sql(argv[2], argv[3], parse_plan(argv + 4));
    if (mode == "tokens-http" && argc == 7)
      return tokens_http(static_cast<unsigned short>(std::atoi(argv[2])), token_plan(argv + 3));
    if (mode == "tokens-lua" && argc == 8)
      return tokens_lua(argv[2], argv[3], token_plan(argv + 4));
    if (mode == "token" && argc == 4) {
      KeepAlive http(static_cast<unsigned short>(std::atoi(argv[2])));
      std::printf("%s\n", active_token(http, std::atoll(argv[3])).c_str());
      return 0;
    }
    if (mode == "get" && argc == 5) {
      KeepAlive http(static_cast<unsigned short>(std::atoi(argv[2])));
      auto r = http.send("GET", argv[4], argv[3], "");
      if (r.status != 200) {
        std::fprintf(stderr, "GET %s: %d %s\n", argv[4], r.status, r.body.c_str());
        return 1;
      }
      std::fwrite(r.body.data(), 1, r.body.size(), stdout);
      return 0;
    }
    if (mode == "cleanup" && argc == 6) return cleanup(argv[2], argv[3], argv[4], argv[5]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reservation_bench %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  return usage();
}
