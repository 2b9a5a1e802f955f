#include "long_poll.hpp"

// Boost 1.74: <utility> must precede Asio, or awaitable.hpp misses std::exchange.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

namespace ticketing::rush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

struct LongPoller::Impl {
  Impl(std::chrono::milliseconds t, std::size_t max) : timeout(t), max_in_flight(max) {}

  std::chrono::milliseconds timeout;
  std::size_t max_in_flight;
  std::atomic<std::size_t> out{0};
  std::atomic<std::size_t> most{0};
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  struct Conn {
    explicit Conn(asio::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
  };
  // Idle kept-alive connections per base URL; touched on the I/O thread only.
  std::map<std::string, std::vector<std::unique_ptr<Conn>>> idle;

  // GCC 12 reports Asio's coroutine frame allocator (operator new/delete of
  // awaitable_frame_base) as mismatched in this function; it is not: both
  // are Asio's own pair. Silenced here only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
  asio::awaitable<void> poll(std::string base, std::string target,
                             std::map<std::string, std::string> headers, Callback done) {
    Reply reply{0, {}, "not sent"};
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<Conn> conn;
      auto& pool = idle[base];
      const bool reused = !pool.empty();
      if (reused) {
        conn = std::move(pool.back());
        pool.pop_back();
      }
      auto [host, port] = host_port(base);
      beast::error_code ec;
      auto with_ec = asio::redirect_error(asio::use_awaitable, ec);
      if (!conn) {
        conn = std::make_unique<Conn>(io);
        tcp::resolver resolver(io);
        auto results = co_await resolver.async_resolve(host, port, with_ec);
        if (!ec) {
          conn->stream.expires_after(timeout);
          co_await conn->stream.async_connect(results, with_ec);
        }
        if (!ec) conn->stream.socket().set_option(tcp::no_delay(true), ec);
        if (ec) {
          reply = Reply{0, {}, "connect: " + ec.message()};
          break;
        }
      }
      bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
      req.set(bhttp::field::host, host);
      req.keep_alive(true);
      for (const auto& [k, v] : headers) req.set(k, v);
      conn->stream.expires_after(timeout);
      co_await bhttp::async_write(conn->stream, req, with_ec);
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(1024 * 1024);
      if (!ec) co_await bhttp::async_read(conn->stream, conn->buffer, parser, with_ec);
      if (ec) {
        reply = Reply{0, {}, "long poll: " + ec.message()};
        // A kept-alive connection the server closed while idle: once more, fresh.
        if (reused) continue;
        break;
      }
      auto res = parser.release();
      reply = Reply{static_cast<int>(res.result_int()), std::move(res.body()), {}};
      if (res.keep_alive()) idle[base].push_back(std::move(conn));
      break;
    }
    out.fetch_sub(1);
    done(std::move(reply));
  }
#pragma GCC diagnostic pop
};

LongPoller::LongPoller(std::chrono::milliseconds timeout, std::size_t max_in_flight)
    : impl_(std::make_unique<Impl>(timeout, max_in_flight)) {
  impl_->work.emplace(impl_->io.get_executor());
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

LongPoller::~LongPoller() {
  impl_->work.reset();
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool LongPoller::submit(const std::string& base, const std::string& target,
                        std::map<std::string, std::string> headers, Callback done) {
  auto n = impl_->out.fetch_add(1) + 1;
  if (n > impl_->max_in_flight) {
    impl_->out.fetch_sub(1);
    return false;
  }
  auto most = impl_->most.load();
  while (n > most && !impl_->most.compare_exchange_weak(most, n)) {
  }
  asio::co_spawn(impl_->io, impl_->poll(base, target, std::move(headers), std::move(done)),
                 asio::detached);
  return true;
}

std::size_t LongPoller::peak() const {
  return impl_->most.load();
}

}  // namespace ticketing::rush
