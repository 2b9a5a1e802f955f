// The only translation unit of the server that sees Beast/Asio (see the
// threading model in server.hpp). Longer than 500 lines on purpose: splitting
// it would spread Beast and Asio headers (and their compile time) over
// several files, and the connection coroutine, the handler pool and the
// metrics it feeds change together.

// Boost 1.74: <utility> must precede Asio, or awaitable.hpp misses std::exchange.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/span_body.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kAwait = net::use_awaitable;
auto with_ec(beast::error_code& ec) {
  return net::redirect_error(net::use_awaitable, ec);
}

// After an error response the client may still be sending (a large body):
// closing at once would reset the connection and could destroy the response
// before the client reads it. Half-close, then discard input for a while.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerMaxBytes = 8 * 1024 * 1024;

constexpr std::string_view kUnmatchedRoute = "(unmatched)";
constexpr std::string_view kRejectedRoute = "(rejected)";  // over max_connections
constexpr std::string_view kInvalidRoute = "(invalid)";    // 400/413/431 before routing

// IMF-fixdate (RFC 9110 5.6.7), locale independent, cached per second per thread.
const std::string& http_date() {
  thread_local std::time_t cached_at = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_at || cached.empty()) {
    static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::array<char, 40> buf{};
    std::snprintf(buf.data(), buf.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                  kDays.at(static_cast<std::size_t>(tm.tm_wday)), tm.tm_mday,
                  kMonths.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    cached = buf.data();
    cached_at = now;
  }
  return cached;
}

std::string method_label(std::string_view method) {
  for (std::string_view m : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}) {
    if (method == m) return std::string(m);
  }
  return "OTHER";
}

bool has_crlf(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Headers the server owns; a handler cannot override them.
bool reserved_header(std::string_view name) {
  for (std::string_view r : {"content-length", "transfer-encoding", "connection", "content-type",
                             "date", "server", "keep-alive", "upgrade"}) {
    if (iequals(name, r)) return true;
  }
  return false;
}

}  // namespace

// A parked request: the answer, and a timer on the connection's strand that
// the connection coroutine waits on. `closed` is set under `mu` by that
// coroutine when it stops listening (answer taken, client gone, stop, park
// limit), so answer() never touches the timer of a finished connection.
struct Later::State {
  explicit State(const net::any_io_executor& strand) : timer(strand) {}
  std::mutex mu;
  std::optional<Response> response;
  bool closed = false;
  net::steady_timer timer;
};

void Later::answer(Response response) const {
  if (!state_) return;
  std::lock_guard lk(state_->mu);
  if (state_->closed || state_->response) return;
  state_->response = std::move(response);
  net::post(state_->timer.get_executor(), [s = state_] { s->timer.cancel(); });
}

bool Later::done() const {
  if (!state_) return true;
  std::lock_guard lk(state_->mu);
  return state_->closed || state_->response.has_value();
}

struct Server::Impl {
  struct Conn {
    explicit Conn(tcp::socket s, std::uint64_t conn_id) : stream(std::move(s)), id(conn_id) {}
    beast::tcp_stream stream;
    std::uint64_t id;
    std::string remote;
    // Waiting for the first byte of a request; stop() may close it. Only
    // touched on the connection's strand.
    bool idle = true;
    // The parked request's state while it waits (Parking routes); strand only.
    std::shared_ptr<Later::State> parked;
  };

  Impl(ServerOptions o, Router r) : opts(std::move(o)), router(std::move(r)) {}

  ServerOptions opts;
  Router router;
  // Declared before everything holding sockets: destroyed last.
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<net::thread_pool> pool;
  std::map<std::string, std::unique_ptr<net::thread_pool>, std::less<>> lane_pools;  // Router lanes
  std::optional<tcp::acceptor> acceptor;
  // The accept loop and acceptor->close() from stop() run on this strand.
  std::optional<net::strand<net::io_context::executor_type>> accept_strand;
  std::vector<std::thread> io_threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint16_t> bound_port{0};

  std::mutex lifecycle_mu;  // start/stop
  bool started = false;
  bool stopped = false;

  std::mutex conns_mu;
  std::condition_variable conns_cv;
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;  // every open socket
  std::size_t sessions = 0;                                        // conns serving requests
  std::uint64_t next_id = 0;

  metrics::Gauge* open_gauge = nullptr;

  // Metric lookups in the registry build label maps under its lock: cached
  // per series so that a request costs one hash lookup.
  std::mutex metrics_mu;
  std::unordered_map<std::string, metrics::Counter*> counters;
  std::unordered_map<std::string, metrics::Histogram*> histograms;

  // ---- lifecycle -------------------------------------------------------

  void start() {
    std::lock_guard lk(lifecycle_mu);
    if (started) throw std::logic_error("http server '" + opts.name + "' started twice");
    if (opts.threads < 1 || opts.io_threads < 1) {
      throw std::invalid_argument("http server '" + opts.name +
                                  "': threads and io_threads must be >= 1");
    }
    open_gauge = &metrics::global().gauge("http_open_connections", "Open HTTP connections",
                                          {{"server", opts.name}});
    beast::error_code ec;
    tcp::endpoint endpoint;
    {
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(opts.host, std::to_string(opts.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
      if (ec || results.empty()) {
        throw std::runtime_error("http server '" + opts.name + "': cannot resolve listen host '" +
                                 opts.host + "': " + (ec ? ec.message() : "no address"));
      }
      endpoint = results.begin()->endpoint();
    }
    auto fail = [&](const char* what) {
      throw std::runtime_error("http server '" + opts.name + "': cannot " + what + " " + opts.host +
                               ":" + std::to_string(opts.port) + ": " + ec.message());
    };
    acceptor.emplace(ioc);
    acceptor->open(endpoint.protocol(), ec);
    if (ec) fail("open socket for");
    acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (ec) fail("set SO_REUSEADDR on");
    acceptor->bind(endpoint, ec);
    if (ec) fail("bind");
    acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) fail("listen on");
    bound_port = acceptor->local_endpoint().port();

    started = true;
    work.emplace(ioc.get_executor());
    pool = std::make_unique<net::thread_pool>(static_cast<std::size_t>(opts.threads));
    for (const auto& [lane, threads] : router.lanes())
      lane_pools.emplace(lane,
                         std::make_unique<net::thread_pool>(static_cast<std::size_t>(threads)));
    accept_strand.emplace(net::make_strand(ioc));
    net::co_spawn(*accept_strand, accept_loop(), [this](std::exception_ptr e) {
      if (e) log_exception("accept loop failed", e);
    });
    for (int i = 0; i < opts.io_threads; ++i) io_threads.emplace_back([this] { ioc.run(); });
    log::info(
        "http server listening",
        {{"server", opts.name}, {"address", opts.host + ":" + std::to_string(bound_port.load())}});
  }

  void stop(std::chrono::milliseconds grace) {
    std::lock_guard lk(lifecycle_mu);
    if (!started || stopped) return;
    stopped = true;
    stopping = true;
    auto deadline = std::chrono::steady_clock::now() + grace;

    net::post(*accept_strand, [this] {
      beast::error_code ec;
      acceptor->close(ec);
    });
    for_each_conn([](Conn& c) {
      if (c.idle) c.stream.close();
      if (c.parked) c.parked->timer.cancel();  // answered 503 SHUTTING_DOWN
    });
    {
      std::unique_lock ul(conns_mu);
      conns_cv.wait_until(ul, deadline, [this] { return conns.empty(); });
    }
    for_each_conn([](Conn& c) {
      c.stream.close();
      if (c.parked) c.parked->timer.cancel();
    });
    // Handlers cannot be interrupted: wait for the running ones. Their
    // connections are closed, so their responses are dropped.
    pool->join();
    for (auto& [lane, lane_pool] : lane_pools) lane_pool->join();
    {
      std::unique_lock ul(conns_mu);
      conns_cv.wait_for(ul, std::chrono::seconds(2), [this] { return conns.empty(); });
    }
    work.reset();
    ioc.stop();
    for (auto& t : io_threads) t.join();
    io_threads.clear();
    {
      std::lock_guard cl(conns_mu);
      conns.clear();
    }
    log::info("http server stopped", {{"server", opts.name}});
  }

  // Runs fn on each open connection's strand.
  template <typename Fn>
  void for_each_conn(Fn fn) {
    std::lock_guard lk(conns_mu);
    for (auto& [id, c] : conns) {
      net::post(c->stream.get_executor(), [c = c, fn] { fn(*c); });
    }
  }

  void log_exception(std::string_view msg, const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error(msg, {{"server", opts.name}, {"error", ex.what()}});
    } catch (...) {
      log::error(msg, {{"server", opts.name}, {"error", "unknown exception"}});
    }
  }

  // ---- accept ----------------------------------------------------------

  net::awaitable<void> accept_loop() {
    net::steady_timer backoff(ioc);
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(net::make_strand(ioc));
      co_await acceptor->async_accept(socket, with_ec(ec));
      if (stopping || ec == net::error::operation_aborted) co_return;
      if (ec) {
        // EMFILE and friends: do not spin; the listen queue holds clients meanwhile.
        log::warn("http accept failed", {{"server", opts.name}, {"error", ec.message()}});
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(with_ec(ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      std::shared_ptr<Conn> conn;
      bool reject = false;
      {
        std::lock_guard lk(conns_mu);
        conn = std::make_shared<Conn>(std::move(socket), next_id++);
        reject = sessions >= opts.max_connections;
        if (!reject) ++sessions;
        conns.emplace(conn->id, conn);
      }
      open_gauge->add(1);
      auto endpoint = conn->stream.socket().remote_endpoint(ec);
      if (!ec) conn->remote = endpoint.address().to_string();
      auto executor = conn->stream.get_executor();
      net::co_spawn(executor, run_connection(std::move(conn), reject), net::detached);
    }
  }

  net::awaitable<void> run_connection(std::shared_ptr<Conn> conn, bool reject) {
    try {
      if (reject) {
        co_await reject_connection(*conn);
      } else {
        co_await session(*conn);
      }
    } catch (...) {
      log_exception("http connection failed", std::current_exception());
    }
    beast::error_code ec;
    conn->stream.socket().close(ec);
    open_gauge->add(-1);
    std::lock_guard lk(conns_mu);
    if (!reject) --sessions;
    conns.erase(conn->id);
    if (conns.empty()) conns_cv.notify_all();
  }

  // ---- per connection --------------------------------------------------

  // Status line and headers of `res` into `out` (body excluded); fixes an
  // invalid status into a 500.
  template <class Body>
  void fill_head(bhttp::response<Body>& out, Response& res, unsigned version) {
    out.version(version);
    out.result(static_cast<unsigned>(res.status));
    out.set(bhttp::field::server, opts.name);
    out.set(bhttp::field::date, http_date());
    if (res.status != 204 && res.status != 304 && !res.content_type.empty() &&
        !has_crlf(res.content_type)) {
      out.set(bhttp::field::content_type, res.content_type);
    }
    for (const auto& [name, value] : res.headers) {
      if (name.empty() || has_crlf(name) || has_crlf(value) || reserved_header(name)) {
        log::warn("http response header dropped", {{"server", opts.name}, {"header", name}});
        continue;
      }
      out.insert(name, value);
    }
  }

  static void check_status(Response& res, const std::string& name) {
    if (res.status < 200 || res.status > 599) {
      log::error("http handler returned an invalid status",
                 {{"server", name}, {"status", std::to_string(res.status)}});
      res = Response::error(500, "INTERNAL", "internal error");
    }
  }

  bhttp::response<bhttp::string_body> make_response(Response res, unsigned version,
                                                    bool keep_alive) {
    check_status(res, opts.name);
    bhttp::response<bhttp::string_body> out;
    fill_head(out, res, version);
    if (res.status == 204 || res.status == 304) {
      res.body.clear();
    } else if (res.shared_body) {
      out.body() = *res.shared_body;
    } else {
      out.body() = std::move(res.body);
    }
    out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  // A response whose body is a shared immutable buffer: sent without a copy.
  // `res.shared_body` must stay alive until the write completes.
  bhttp::response<bhttp::span_body<const char>> make_shared_response(Response& res,
                                                                     unsigned version,
                                                                     bool keep_alive) {
    bhttp::response<bhttp::span_body<const char>> out;
    fill_head(out, res, version);
    out.body() = boost::beast::span<const char>(res.shared_body->data(), res.shared_body->size());
    out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  void count(std::string_view route, std::string_view method, int status, double seconds) {
    auto label = method_label(method);
    std::string key;
    key.reserve(route.size() + label.size() + 8);
    key.append(route).append(1, ' ').append(label).append(1, ' ').append(std::to_string(status));
    metrics::Counter* counter = nullptr;
    {
      std::lock_guard lk(metrics_mu);
      if (auto it = counters.find(key); it != counters.end()) counter = it->second;
    }
    if (counter == nullptr) {
      counter = &metrics::global().counter("http_requests_total",
                                           "HTTP requests by route, method and status",
                                           {{"server", opts.name},
                                            {"route", std::string(route)},
                                            {"method", label},
                                            {"status", std::to_string(status)}});
      std::lock_guard lk(metrics_mu);
      counters.emplace(std::move(key), counter);
    }
    counter->inc();
    if (seconds >= 0) observe(route, seconds);
  }

  // Parked answers wait by design for up to park_limit: their buckets reach
  // past it (pipeline_buckets, to 60 s) instead of ending at 10 s.
  void observe(std::string_view route, double seconds, bool parked_route = false) {
    metrics::Histogram* histogram = nullptr;
    {
      std::lock_guard lk(metrics_mu);
      if (auto it = histograms.find(std::string(route)); it != histograms.end())
        histogram = it->second;
    }
    if (histogram == nullptr) {
      histogram = &metrics::global().histogram(
          "http_request_duration_seconds",
          "HTTP request latency from parsed request to response ready",
          {{"server", opts.name}, {"route", std::string(route)}},
          parked_route ? metrics::pipeline_buckets() : metrics::latency_buckets());
      std::lock_guard lk(metrics_mu);
      histograms.emplace(std::string(route), histogram);
    }
    histogram->observe(seconds);
  }

  // Runs fn (a handler or an inline fast path) and maps its exceptions.
  template <class Fn>
  auto invoke_guarded(Fn&& fn, const Request& request, std::string_view route)
      -> decltype(fn(request)) {
    try {
      return fn(request);
    } catch (const InfraError& e) {
      log::warn("http handler dependency failure", {{"server", opts.name},
                                                    {"route", route},
                                                    {"method", request.method},
                                                    {"error", e.what()}});
      return Response::dependency_unavailable();
    } catch (const std::exception& e) {
      log::error("http handler threw", {{"server", opts.name},
                                        {"route", route},
                                        {"method", request.method},
                                        {"error", e.what()}});
    } catch (...) {
      log::error("http handler threw", {{"server", opts.name},
                                        {"route", route},
                                        {"method", request.method},
                                        {"error", "non-standard exception"}});
    }
    return Response::error(500, "INTERNAL", "internal error");
  }

  Response invoke(const Handler& handler, const Request& request, std::string_view route) {
    return invoke_guarded(handler, request, route);
  }

  // The route's lane's pool, or the shared one.
  net::thread_pool* pool_for(std::string_view lane) {
    if (lane.empty()) return pool.get();
    auto it = lane_pools.find(lane);
    return it != lane_pools.end() ? it->second.get() : pool.get();
  }

  // Runs the handler on its pool; the coroutine resumes on its strand.
  net::awaitable<Response> dispatch(const Handler& handler, const Request& request,
                                    std::string_view route, std::string_view route_lane) {
    co_return co_await net::co_spawn(
        pool_for(route_lane)->get_executor(),
        [this, &handler, &request, route]() -> net::awaitable<Response> {
          co_return invoke(handler, request, route);
        },
        kAwait);
  }

  // A Parking route: the handler runs on the pool; when it leaves the answer
  // to its Later, wait on the strand (no thread held) until answer(), stop()
  // or the park limit. `parked` tells the caller to time it apart.
  net::awaitable<Response> park(Conn& c, const ParkingHandler& handler, const Request& request,
                                std::string_view route, std::string_view route_lane, bool& parked) {
    auto state = std::make_shared<Later::State>(c.stream.get_executor());
    Later later(state);
    std::optional<Response> now = co_await net::co_spawn(
        pool_for(route_lane)->get_executor(),
        [this, &handler, &request, route, &later]() -> net::awaitable<std::optional<Response>> {
          co_return invoke_guarded([&](const Request& r) { return handler(r, later); }, request,
                                   route);
        },
        kAwait);
    if (now) {
      close_parked(*state);
      co_return std::move(*now);
    }
    parked = true;
    c.parked = state;
    state->timer.expires_after(opts.park_limit);
    {
      std::unique_lock lk(state->mu);
      // Answered (and the cancel posted) before the wait could start: take it.
      if (!state->response && !stopping) {
        lk.unlock();
        beast::error_code ec;
        co_await state->timer.async_wait(with_ec(ec));
      }
    }
    c.parked.reset();
    if (auto answered = close_parked(*state)) co_return std::move(*answered);
    if (stopping) {
      auto res = Response::error(503, "SHUTTING_DOWN", "the server is stopping, retry");
      res.headers.emplace_back("Retry-After", "1");
      co_return res;
    }
    log::error("http parked request not answered in time",
               {{"server", opts.name}, {"route", std::string(route)}});
    co_return Response::error(503, "LONG_POLL_UNANSWERED", "no answer in time, retry");
  }

  // Nobody listens to the Later any more; returns its answer, if any.
  static std::optional<Response> close_parked(Later::State& state) {
    std::lock_guard lk(state.mu);
    state.closed = true;
    return std::exchange(state.response, std::nullopt);
  }

  net::awaitable<void> write_and_close(Conn& c, Response res, std::string_view route) {
    count(route, "", res.status, -1);
    auto out = make_response(std::move(res), 11, false);
    beast::error_code ec;
    c.stream.expires_after(opts.write_timeout);
    co_await bhttp::async_write(c.stream, out, with_ec(ec));
    if (!ec) co_await linger_close(c);
  }

  net::awaitable<void> linger_close(Conn& c) {
    beast::error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    c.stream.expires_after(std::min(kLingerTime, opts.read_timeout));
    std::array<char, 16 * 1024> sink{};
    std::size_t total = 0;
    while (total < kLingerMaxBytes) {
      std::size_t n = co_await c.stream.async_read_some(net::buffer(sink), with_ec(ec));
      if (ec) break;
      total += n;
    }
  }

  net::awaitable<void> reject_connection(Conn& c) {
    auto res = Response::error(503, "TOO_MANY_CONNECTIONS",
                               "server connection limit reached, retry later");
    res.headers.emplace_back("Retry-After", "1");
    co_await write_and_close(c, std::move(res), kRejectedRoute);
  }

  static Request to_request(bhttp::request<bhttp::string_body>& req, const std::string& remote) {
    Request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    auto q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) r.query = r.target.substr(q + 1);
    r.headers.reserve(8);
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& ch : name) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      }
      r.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    r.body = std::move(req.body());
    r.remote_address = remote;
    return r;
  }

  net::awaitable<void> session(Conn& c) {
    beast::flat_buffer buffer;
    bool first = true;
    // First request: the deadline runs from accept, so a client that connects
    // and says nothing is cut off after read_timeout, not idle_timeout.
    c.stream.expires_after(opts.read_timeout);
    for (;;) {
      beast::error_code ec;
      if (buffer.size() == 0) {
        c.idle = true;
        if (stopping) co_return;
        if (!first) c.stream.expires_after(opts.idle_timeout);
        std::size_t n = co_await c.stream.async_read_some(buffer.prepare(4096), with_ec(ec));
        c.idle = false;
        if (ec) co_return;  // closed, idle timeout, or stop()
        buffer.commit(n);
      }
      // One deadline for the whole request (headers and body): a client
      // trickling bytes cannot extend it.
      if (!first) c.stream.expires_after(opts.read_timeout);
      first = false;

      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(
          static_cast<std::uint32_t>(std::min<std::size_t>(opts.max_header_bytes, UINT32_MAX)));
      parser.body_limit(opts.max_body_bytes);
      // Header first (not one async_read): the Expect check needs it, and
      // Beast 1.74's eager parser loses the Content-Length body_limit error
      // when body bytes arrive in the same read.
      co_await bhttp::async_read_header(c.stream, buffer, parser, with_ec(ec));
      if (!ec && !parser.is_done()) {
        const auto& h = parser.get();
        if (h.version() == 11 && iequals(h[bhttp::field::expect], "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await net::async_write(c.stream, net::buffer(kContinue.data(), kContinue.size()),
                                    with_ec(ec));
        }
        if (!ec) co_await bhttp::async_read(c.stream, buffer, parser, with_ec(ec));
      }
      if (ec) {
        if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
          co_await write_and_close(
              c,
              Response::error(
                  431, "HEADERS_TOO_LARGE",
                  "request headers exceed " + std::to_string(opts.max_header_bytes) + " bytes"),
              kInvalidRoute);
        } else if (ec == bhttp::error::body_limit) {
          co_await write_and_close(
              c,
              Response::error(
                  413, "PAYLOAD_TOO_LARGE",
                  "request body exceeds " + std::to_string(opts.max_body_bytes) + " bytes"),
              kInvalidRoute);
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
          co_await write_and_close(c, Response::error(400, "BAD_REQUEST", "malformed HTTP request"),
                                   kInvalidRoute);
        }
        // Otherwise timeout, reset or the peer closed mid-request: nothing to answer.
        co_return;
      }

      auto started_at = std::chrono::steady_clock::now();
      auto raw = parser.release();
      const unsigned version = raw.version();
      bool keep_alive = raw.keep_alive();
      Request request = to_request(raw, c.remote);
      RouteMatch match = router.match(request.method, request.path);
      Response response;
      bool parked = false;
      std::string_view route = kUnmatchedRoute;
      switch (match.kind) {
        case RouteMatch::Kind::kFound:
          route = match.pattern;
          request.params = std::move(match.params);
          if (match.parking != nullptr) {
            response = co_await park(c, *match.parking, request, route, match.lane, parked);
          } else if (match.fast != nullptr) {
            // Opt-in: answered on this I/O thread when the fast path can.
            std::optional<Response> quick = invoke_guarded(*match.fast, request, route);
            if (quick) {
              response = std::move(*quick);
            } else {
              response = co_await dispatch(*match.handler, request, route, match.lane);
            }
          } else {
            response = co_await dispatch(*match.handler, request, route, match.lane);
          }
          break;
        case RouteMatch::Kind::kMethodNotAllowed:
          response = Response::error(
              405, "METHOD_NOT_ALLOWED",
              "method " + request.method + " is not allowed here; allowed: " + match.allow);
          response.headers.emplace_back("Allow", match.allow);
          break;
        case RouteMatch::Kind::kNotFound:
          response =
              Response::error(404, "NOT_FOUND", "no route for " + request.path.substr(0, 200));
          break;
      }
      keep_alive = keep_alive && !stopping;
      check_status(response, opts.name);
      // Recorded before the write: latency of the server, not of the
      // client's reading, and visible once the client has the response.
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - started_at;
      if (parked) {
        count(route, request.method, response.status, -1);
        observe(std::string(route) + " (parked)", took.count(), true);
      } else {
        count(route, request.method, response.status, took.count());
      }
      c.stream.expires_after(opts.write_timeout);
      if (response.shared_body && response.status != 204 && response.status != 304) {
        auto out = make_shared_response(response, version, keep_alive);
        co_await bhttp::async_write(c.stream, out, with_ec(ec));
      } else {
        auto out = make_response(std::move(response), version, keep_alive);
        co_await bhttp::async_write(c.stream, out, with_ec(ec));
      }
      if (ec) co_return;
      if (!keep_alive) {
        c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        co_return;
      }
    }
  }
};

Server::Server(ServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {}

Server::~Server() {
  try {
    stop();
  } catch (const std::exception& e) {
    log::error("http server stop failed", {{"error", e.what()}});
  } catch (...) {
    log::error("http server stop failed", {{"error", "unknown"}});
  }
}

void Server::start() {
  impl_->start();
}

std::uint16_t Server::port() const {
  return impl_->bound_port.load();
}

void Server::stop(std::chrono::milliseconds grace) {
  impl_->stop(grace);
}

}  // namespace ticketing::http
