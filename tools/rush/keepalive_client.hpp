#pragma once
// A small HTTP/1.1 client that keeps one connection per base URL open, as a
// browser would. Not thread-safe: one per worker thread.

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace ticketing::rush {

// "http://host:port" -> {host, port} ("80" when the base names none).
struct HostPort {
  std::string host;
  std::string port;
};
HostPort host_port(const std::string& base);

struct Reply {
  int status = 0;  // 0 = transport error (see error)
  std::string body;
  std::string error;
};

class KeepAliveClient {
 public:
  explicit KeepAliveClient(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~KeepAliveClient();
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  // base: http://host:port (no path). A connection the server closed while
  // idle is reopened and the request sent once more.
  Reply send(const std::string& base, const std::string& method, const std::string& target,
             const std::string& body = {}, const std::map<std::string, std::string>& headers = {});

 private:
  struct Conn;
  std::chrono::milliseconds timeout_;
  std::map<std::string, std::unique_ptr<Conn>> conns_;
};

}  // namespace ticketing::rush
