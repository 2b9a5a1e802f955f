#include "keepalive_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace ticketing::rush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

struct KeepAliveClient::Conn {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  std::string host;
  std::string port;
};

namespace {

void set_timeouts(tcp::socket& s, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

HostPort host_port(const std::string& base) {
  auto scheme = base.find("://");
  auto rest = scheme == std::string::npos ? base : base.substr(scheme + 3);
  auto colon = rest.rfind(':');
  return {rest.substr(0, colon), colon == std::string::npos ? "80" : rest.substr(colon + 1)};
}

KeepAliveClient::KeepAliveClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}
KeepAliveClient::~KeepAliveClient() = default;

Reply KeepAliveClient::send(const std::string& base, const std::string& method,
                            const std::string& target, const std::string& body,
                            const std::map<std::string, std::string>& headers) {
  auto& slot = conns_[base];
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = false;
    try {
      if (!slot || !slot->socket.is_open()) {
        slot = std::make_unique<Conn>();
        auto [host, port] = host_port(base);
        slot->host = host;
        slot->port = port;
        tcp::resolver resolver(slot->io);
        asio::connect(slot->socket, resolver.resolve(slot->host, slot->port));
        slot->socket.set_option(tcp::no_delay(true));
        set_timeouts(slot->socket, timeout_);
      } else {
        reused = true;
      }
      bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
      req.set(bhttp::field::host, slot->host);
      req.keep_alive(true);
      for (const auto& [k, v] : headers) req.set(k, v);
      if (!body.empty()) {
        req.set(bhttp::field::content_type, "application/json");
        req.body() = body;
      }
      req.prepare_payload();
      bhttp::write(slot->socket, req);
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(16 * 1024 * 1024);
      bhttp::read(slot->socket, slot->buffer, parser);
      auto res = parser.release();
      Reply reply{static_cast<int>(res.result_int()), std::move(res.body()), {}};
      if (!res.keep_alive()) slot.reset();
      return reply;
    } catch (const std::exception& e) {
      slot.reset();
      // A kept-alive connection may have been closed by the server while
      // idle: one fresh attempt. A fresh connection failing is an error.
      if (!reused || attempt == 1) return Reply{0, {}, e.what()};
    }
  }
  return Reply{0, {}, "unreachable"};
}

}  // namespace ticketing::rush
