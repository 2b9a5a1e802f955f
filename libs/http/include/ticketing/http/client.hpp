#pragma once

// Synchronous HTTP/1.1 client for webhooks and the external data platform.
// Boost.Beast and OpenSSL stay inside libs/http/src.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ticketing::http {

struct ClientRequest {
  std::string method = "POST";
  std::string url;  // http:// or https://host[:port]/path?query
  // Host, Content-Length and Connection are set by the client.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{2000};  // name resolution + TCP connect
  std::chrono::milliseconds total_timeout{5000};    // everything, including the above
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // First header with that name (case-insensitive).
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

struct ClientOptions {
  bool verify_tls = true;                        // certificate chain and host name (or IP address)
  std::string ca_file;                           // PEM bundle; empty = the system's default CAs
  std::size_t max_response_bytes = 1024 * 1024;  // body limit
  std::string user_agent = "ticketing-http-client";
};

// One connection per send(), closed afterwards (no pooling yet). Safe to use
// from several threads at once: send() shares only the immutable TLS context.
class Client {
 public:
  // Throws ticketing::HttpClientError (not retryable) when ca_file cannot be loaded.
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Returns any HTTP status. Throws ticketing::HttpClientError:
  //   retryable:     DNS failure, connect refused/timeout, reset, total timeout,
  //                  TLS handshake failures on the network level, truncated response
  //   not retryable: malformed URL or method, response larger than
  //                  max_response_bytes, malformed response, TLS certificate
  //                  verification failure (a configuration problem)
  ClientResponse send(const ClientRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::http
