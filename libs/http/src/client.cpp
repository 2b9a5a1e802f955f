// Synchronous client on top of Beast: each send() runs its own io_context in
// the calling thread, so every step (resolve, connect, TLS handshake, write,
// read) is bounded by a deadline without extra threads.

// Boost 1.74: <utility> must precede Asio, or awaitable.hpp misses std::exchange.
#include <mutex>
#include <utility>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <stdexcept>

#include "ticketing/common/error.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/http/url.hpp"

namespace ticketing::http {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

auto with_ec(beast::error_code& ec) {
  return net::redirect_error(net::use_awaitable, ec);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool has_ctl(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return true;
  }
  return false;
}

bool reserved_request_header(std::string_view lower_name) {
  return lower_name == "host" || lower_name == "content-length" ||
         lower_name == "transfer-encoding" || lower_name == "connection";
}

bool is_ip_address(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

[[noreturn]] void fail(const std::string& what, bool retryable) {
  throw HttpClientError(what, retryable);
}

}  // namespace

std::optional<std::string> ClientResponse::header(std::string_view name) const {
  auto lower = to_lower(name);
  for (const auto& [n, v] : headers) {
    if (n == lower) return v;
  }
  return std::nullopt;
}

struct Client::Impl {
  ClientOptions opts;
  // Building a TLS context (and loading the system trust store) costs more
  // CPU than a loopback request: plain-HTTP clients never pay for it, HTTPS
  // clients pay once, on first use. An explicit CA file is checked at once so
  // a bad path fails at start.
  std::once_flag tls_once;
  std::unique_ptr<ssl::context> tls;

  explicit Impl(ClientOptions o) : opts(std::move(o)) {
    if (opts.verify_tls && !opts.ca_file.empty()) (void)tls_context();
  }

  ssl::context& tls_context() {
    std::call_once(tls_once, [this] {
      auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
      if (opts.verify_tls) {
        beast::error_code ec;
        if (opts.ca_file.empty()) {
          ctx->set_default_verify_paths(ec);
        } else {
          ctx->load_verify_file(opts.ca_file, ec);
        }
        if (ec) fail("cannot load CA certificates '" + opts.ca_file + "': " + ec.message(), false);
        ctx->set_verify_mode(ssl::verify_peer);
      } else {
        ctx->set_verify_mode(ssl::verify_none);
      }
      tls = std::move(ctx);
    });
    if (!tls) fail("TLS is not available: the TLS context could not be set up", false);
    return *tls;
  }

  struct Target {
    Url url;
    std::string where;  // "host:port" for messages; never the path or query (may hold secrets)
    Clock::time_point connect_deadline;
    Clock::time_point deadline;
  };

  template <typename Stream>
  net::awaitable<ClientResponse> exchange(Stream& stream, bhttp::request<bhttp::string_body>& req,
                                          const Target& t) {
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_at(t.deadline);
    co_await bhttp::async_write(stream, req, with_ec(ec));
    if (ec == beast::error::timeout) fail("timed out sending request to " + t.where, true);
    if (ec) fail("sending request to " + t.where + ": " + ec.message(), true);

    beast::flat_buffer buffer;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser;
    for (;;) {
      parser.emplace();
      parser->header_limit(64 * 1024);
      parser->body_limit(opts.max_response_bytes);
      if (req.method() == bhttp::verb::head) parser->skip(true);
      // Header first: Beast 1.74's eager parser (async_read) drops the
      // body_limit error raised at the end of the header when body bytes
      // follow in the same buffer, and would read an oversized body.
      co_await bhttp::async_read_header(stream, buffer, *parser, with_ec(ec));
      if (!ec && !parser->is_done())
        co_await bhttp::async_read(stream, buffer, *parser, with_ec(ec));
      if (ec == ssl::error::stream_truncated && parser->is_header_done() && parser->need_eof()) {
        // Close-delimited body over TLS from a peer that skips close_notify.
        parser->put_eof(ec);
      }
      if (ec == beast::error::timeout)
        fail("timed out waiting for the response from " + t.where, true);
      if (ec == bhttp::error::body_limit) {
        fail("response from " + t.where + " exceeds " + std::to_string(opts.max_response_bytes) +
                 " bytes",
             false);
      }
      if (ec == bhttp::error::header_limit)
        fail("response headers from " + t.where + " are too large", false);
      if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
        fail("connection closed by " + t.where + " before a complete response", true);
      }
      if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
        fail("malformed response from " + t.where + ": " + ec.message(), false);
      }
      if (ec) fail("reading response from " + t.where + ": " + ec.message(), true);
      // Interim 1xx responses (100 Continue) precede the real one.
      if (parser->get().result_int() >= 200 || parser->get().result_int() == 101) break;
    }
    auto res = parser->release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers.emplace_back(to_lower(field.name_string()), std::string(field.value()));
    }
    out.body = std::move(res.body());
    co_return out;
  }

  net::awaitable<ClientResponse> run(const ClientRequest& request, Target t) {
    auto executor = co_await net::this_coro::executor;
    beast::error_code ec;

    std::vector<tcp::endpoint> endpoints;
    if (auto address = net::ip::make_address(t.url.host, ec); !ec) {
      endpoints.emplace_back(address, t.url.port);
    } else {
      // Name resolution cannot be bounded by the stream's deadline: cancel it
      // from a timer. The resolver is shared with the timer's handler, which
      // may run after this frame is gone.
      auto resolver = std::make_shared<tcp::resolver>(executor);
      auto resolve_timed_out = std::make_shared<bool>(false);
      net::steady_timer timer(executor);
      timer.expires_at(t.connect_deadline);
      timer.async_wait([resolver, resolve_timed_out](const beast::error_code& wait_ec) {
        if (!wait_ec) {
          *resolve_timed_out = true;
          resolver->cancel();
        }
      });
      auto results = co_await resolver->async_resolve(t.url.host, std::to_string(t.url.port),
                                                      tcp::resolver::numeric_service, with_ec(ec));
      timer.cancel();
      if (*resolve_timed_out) fail("timed out resolving " + t.url.host, true);
      if (ec) fail("cannot resolve " + t.url.host + ": " + ec.message(), true);
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }

    beast::tcp_stream stream(executor);
    stream.expires_at(t.connect_deadline);
    co_await stream.async_connect(endpoints, with_ec(ec));
    if (ec == beast::error::timeout) fail("timed out connecting to " + t.where, true);
    if (ec) fail("cannot connect to " + t.where + ": " + ec.message(), true);
    beast::error_code nodelay_ec;
    stream.socket().set_option(tcp::no_delay(true), nodelay_ec);

    bhttp::request<bhttp::string_body> req;
    req.version(11);
    req.method_string(request.method);
    req.target(t.url.target);
    req.set(bhttp::field::host, t.url.host_header());
    bool has_user_agent = false;
    for (const auto& [name, value] : request.headers) {
      auto lower = to_lower(name);
      if (reserved_request_header(lower)) continue;
      has_user_agent = has_user_agent || lower == "user-agent";
      req.insert(name, value);
    }
    if (!has_user_agent) req.set(bhttp::field::user_agent, opts.user_agent);
    req.set(bhttp::field::connection, "close");
    req.body() = request.body;
    req.prepare_payload();

    if (!t.url.tls()) co_return co_await exchange(stream, req, t);

    beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(stream), tls_context());
    SSL* ssl_handle = tls_stream.native_handle();
    const bool ip = t.url.ipv6_literal || is_ip_address(t.url.host);
    // SNI carries host names only (RFC 6066 section 3).
    // SSL_set_tlsext_host_name is a macro with a C-style cast; this is its expansion.
    if (!ip && SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                        const_cast<char*>(t.url.host.c_str())) != 1) {
      fail("cannot set TLS SNI for " + t.url.host, false);
    }
    if (opts.verify_tls) {
      int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), t.url.host.c_str())
                  : SSL_set1_host(ssl_handle, t.url.host.c_str());
      if (ok != 1) fail("cannot set TLS peer name " + t.url.host, false);
    }
    beast::get_lowest_layer(tls_stream).expires_at(t.deadline);
    co_await tls_stream.async_handshake(ssl::stream_base::client, with_ec(ec));
    if (ec) {
      long verify = SSL_get_verify_result(ssl_handle);
      if (opts.verify_tls && verify != X509_V_OK) {
        fail(
            "TLS certificate of " + t.where + " rejected: " + X509_verify_cert_error_string(verify),
            false);
      }
      if (ec == beast::error::timeout) fail("timed out in TLS handshake with " + t.where, true);
      fail("TLS handshake with " + t.where + " failed: " + ec.message(), true);
    }
    co_return co_await exchange(tls_stream, req, t);
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

ClientResponse Client::send(const ClientRequest& request) {
  Impl::Target t;
  try {
    t.url = parse_url(request.url);
  } catch (const std::invalid_argument& e) {
    fail(e.what(), false);
  }
  if (!is_token(request.method)) fail("invalid HTTP method '" + request.method + "'", false);
  for (const auto& [name, value] : request.headers) {
    if (!is_token(name) || has_ctl(value)) fail("invalid request header '" + name + "'", false);
  }
  t.where = t.url.host_header();
  if (t.url.port == (t.url.tls() ? 443 : 80)) t.where += ":" + std::to_string(t.url.port);
  auto now = Clock::now();
  t.deadline = now + request.total_timeout;
  t.connect_deadline = std::min(t.deadline, now + request.connect_timeout);

  net::io_context ioc(1);
  std::exception_ptr error;
  ClientResponse response;
  bool done = false;
  net::co_spawn(ioc, impl_->run(request, std::move(t)),
                [&](std::exception_ptr e, ClientResponse r) {
                  done = true;
                  error = e;
                  response = std::move(r);
                });
  ioc.run();
  if (error) std::rethrow_exception(error);
  if (!done) fail("request did not complete", true);
  return response;
}

}  // namespace ticketing::http
