#pragma once

// HTTP/1.1 server for the public APIs. Boost.Beast and Asio stay inside
// libs/http/src: this header is cheap to include from handlers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ticketing::http {

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // raw request target, e.g. "/v1/seats?x=1"
  std::string path;    // target before '?', not percent-decoded
  std::string query;   // target after '?', not percent-decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::map<std::string, std::string> params;  // path parameters, percent-decoded
  std::string remote_address;                 // peer IP address

  // First header with that name; the argument must already be lower-case.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view lower_name) const;
  // First query parameter with that name, percent-decoded ('+' is a space).
  [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Extra headers. Content-Type, Content-Length, Connection, Server and Date
  // are set by the server. Names or values holding CR/LF are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
  // Alternative to `body` for large immutable bodies shared between responses
  // (e.g. a cached document): when set, it is sent instead of `body`, without
  // a copy.
  std::shared_ptr<const std::string> shared_body;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // Body: {"error":{"code":"<code>","message":"<message>"}}
  static Response error(int status, std::string_view code, std::string_view message);
  // 503 DEPENDENCY_UNAVAILABLE with Retry-After: 1, what a handler's
  // InfraError becomes (also for answers given later, see Later).
  static Response dependency_unavailable();
};

// Handlers are synchronous and may block (database calls); see Server.
using Handler = std::function<Response(const Request&)>;

// A route's non-blocking fast path: an answer, or nullopt to go on to the
// route's Handler.
using FastHandler = std::function<std::optional<Response>(const Request&)>;

// Opt-in fast path of a route: `router.add(method, pattern, InlineFirst{fast,
// handler})`. The server runs `fast` on the connection's I/O thread, without
// the hop to the handler pool; when it returns nullopt, `handler` runs on the
// pool as usual. `fast` must never block (no database, no Redis, no waiting
// on locks held across I/O): it stalls every connection of that I/O thread.
// Typically it answers from an in-process cache. Exceptions from `fast` are
// treated like a handler's (503 for InfraError, else 500). The router keeps
// both parts apart, and an InlineFirst is not callable: wrapping it into a
// plain Handler does not compile, so the fast path cannot disappear unseen.
struct InlineFirst {
  FastHandler fast;
  Handler handler;
};

// A response given later, from any thread: the handle of a parked request
// (long poll, see Parking). answer() takes effect once; later calls, and calls
// after the connection is gone or the server stopped, do nothing. Copies
// share the same request. Holding one after the Server is destroyed is a bug.
class Later {
 public:
  struct State;  // defined by the server
  Later() = default;
  explicit Later(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void answer(Response response) const;
  // True once answered, or once the server gave up on the request (client
  // gone, server stopping, park limit): nobody is listening any more.
  [[nodiscard]] bool done() const;

 private:
  std::shared_ptr<State> state_;
};

// A route that may answer later (long poll): the handler runs on the handler
// pool like any other; it returns a Response to answer at once, or nullopt
// after handing `later` to something that will answer it (e.g. a watcher
// thread). The connection waits without holding a handler thread, for at
// most ServerOptions::park_limit (then 503 LONG_POLL_UNANSWERED); a stopping
// server answers parked requests with 503 SHUTTING_DOWN and Retry-After.
using ParkingHandler = std::function<std::optional<Response>(const Request&, const Later&)>;
struct Parking {
  ParkingHandler handler;
};

// A handler pool of its own for some routes (a bulkhead): a flood on them
// (queue tokens at the ticket open) waits for the lane's threads only, never
// for the threads every other route needs (holds, payments). Routes naming
// the same lane share it; its size is the largest `threads` given.
struct Lane {
  std::string name;
  int threads = 4;
};

// Result of Router::match; pattern points into the Router.
struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  const Handler* handler = nullptr;           // kFound only
  const FastHandler* fast = nullptr;          // kFound, when the route has a fast path
  const ParkingHandler* parking = nullptr;    // kFound, for a Parking route (handler is null)
  std::string_view lane;                      // kFound: the route's Lane name, empty = shared pool
  std::string_view pattern;                   // kFound only, e.g. "/v1/reservations/{id}"
  std::map<std::string, std::string> params;  // kFound only
  std::string allow;                          // kMethodNotAllowed only, e.g. "GET, POST"
};

// Maps (method, path) to a handler. Patterns are matched per '/'-separated
// segment; "{name}" matches one non-empty segment. When several patterns
// match, literal segments win over parameters, left to right, so
// "/v1/queue/status" beats "/v1/queue/{id}". Path segments are percent-decoded
// before comparison. Not thread-safe while adding; read-only once served.
class Router {
 public:
  // Throws std::invalid_argument for a malformed pattern or a duplicate route.
  void add(std::string method, std::string pattern, Handler handler);
  // A route with a fast path (see InlineFirst); `route.fast` may be empty.
  void add(std::string method, std::string pattern, InlineFirst route);
  // A route that may answer later (see Parking).
  void add(std::string method, std::string pattern, Parking route);
  // The same, run on a Lane's own handler threads.
  void add(std::string method, std::string pattern, Handler handler, const Lane& lane);
  void add(std::string method, std::string pattern, Parking route, const Lane& lane);
  // Lane name -> threads, for the server to start.
  [[nodiscard]] const std::map<std::string, int>& lanes() const { return lanes_; }
  [[nodiscard]] RouteMatch match(std::string_view method, std::string_view path) const;
  [[nodiscard]] bool empty() const noexcept { return routes_.empty(); }
  // Every route as added: method and pattern, in the order of add().
  struct RouteInfo {
    std::string method;
    std::string pattern;
  };
  [[nodiscard]] std::vector<RouteInfo> routes() const;

 private:
  struct Segment {
    std::string text;  // literal text or parameter name
    bool param = false;
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;         // empty for a Parking route
    FastHandler fast;        // empty: none
    ParkingHandler parking;  // empty: not a Parking route
    std::string lane;        // empty: the shared pool
  };
  void add_route(std::string method, std::string pattern, Route route);
  void add_lane(const Lane& lane);
  std::vector<Route> routes_;
  std::map<std::string, int> lanes_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = ephemeral, see Server::port()
  // Handler threads: how many handlers may run (and block) at the same time.
  int threads = 4;
  // Socket I/O threads (accept, parse, write, timers). Never blocked by handlers.
  int io_threads = 1;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  // Whole request including body, from the first byte (from accept for the
  // first request of a connection): a client trickling bytes is cut off.
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  // Keep-alive: how long a connection may sit between requests.
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_connections = 10000;
  // Longest a parked request (Parking route) waits for its answer.
  std::chrono::milliseconds park_limit{60000};
  std::string name = "http";  // metrics label `server` and Server header
};

// Threading model:
// - One io_context run by `io_threads` threads does all socket work. Each
//   connection is one C++20 coroutine on its own strand: read request (Beast
//   parser with header/body limits, one deadline for the whole request),
//   dispatch, write, repeat while keep-alive.
// - Each parsed request is handed to a separate pool of `threads` handler
//   threads; the connection coroutine is suspended meanwhile. A handler that
//   blocks on the database therefore holds one handler thread only: other
//   connections keep being read, timed out, rejected (413/431/503) and, as long
//   as a handler thread is free, served.
// - Opt-in per route (InlineFirst): a non-blocking fast path runs on the I/O
//   thread first and only its misses are handed to the pool.
// - Parking routes (long polls): the handler runs on the pool and may leave
//   the answer to a Later; the connection coroutine then waits on a timer on
//   its strand, holding no thread. Parked answers are timed under the route
//   label "<pattern> (parked)", so waiting by design does not blur the
//   route's latency.
// - Handler exceptions: ticketing::InfraError -> 503 DEPENDENCY_UNAVAILABLE
//   with Retry-After: 1; anything else -> 500 INTERNAL, logged.
// - Metrics in metrics::global(): http_requests_total{server,route,method,status}
//   and http_request_duration_seconds{server,route}; route is the pattern,
//   "(unmatched)" (404/405), "(invalid)" (400/413/431) or "(rejected)" (over
//   max_connections), never the raw path. Gauge http_open_connections{server}.
class Server {
 public:
  Server(ServerOptions options, Router router);
  ~Server();  // stop() with the default grace
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the threads. Throws std::runtime_error naming
  // host:port and the reason when the address cannot be bound.
  void start();
  // Bound port (useful with port 0). 0 before start().
  [[nodiscard]] std::uint16_t port() const;
  // Graceful stop: stops accepting, closes idle keep-alive connections, lets
  // in-flight requests finish (their responses carry Connection: close) for up
  // to `grace`, then closes whatever is left and joins all threads. A handler
  // still blocked after the grace period is waited for: handlers must bound
  // their own blocking (database timeouts). Idempotent. Must not be called
  // from a handler (it joins the handler threads).
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-decoding helper shared with handlers; '+' becomes a space only when
// plus_as_space. Malformed escapes are kept literally.
std::string percent_decode(std::string_view in, bool plus_as_space);

}  // namespace ticketing::http
