#pragma once

// Raw POSIX socket helpers: the tests control bytes and timing exactly.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace ticketing::http::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  [[nodiscard]] int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// Connects to 127.0.0.1:port; invalid Fd when refused.
Fd connect_local(std::uint16_t port);
// Listening socket on 127.0.0.1 with an ephemeral port (backlog 16).
Fd listen_local(std::uint16_t& port);
// A port nothing listens on (bound then released).
std::uint16_t closed_port();

// Sends everything (MSG_NOSIGNAL); false when the peer closed/reset.
bool send_all(int fd, std::string_view data);

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Reads one response (Content-Length framing) within timeout; nullopt on
// timeout, close or garbage. Leftover bytes stay in `carry` for the next call.
std::optional<RawResponse> read_response(int fd, std::chrono::milliseconds timeout,
                                         std::string* carry = nullptr);

enum class PeerState { kClosed, kOpen };
// Waits until the peer closes (EOF or reset) or the timeout passes; discards
// any data received meanwhile.
PeerState wait_closed(int fd, std::chrono::milliseconds timeout);

// Reads until `marker` has been received (returns everything read) or "" on timeout/close.
std::string read_until(int fd, std::string_view marker, std::chrono::milliseconds timeout);

// A fake peer on 127.0.0.1 for client tests: accepts one connection, reads
// the request head (when read_request), writes `reply` and closes.
class OneShotPeer {
 public:
  explicit OneShotPeer(std::string reply, bool read_request = true);
  ~OneShotPeer();
  OneShotPeer(const OneShotPeer&) = delete;
  OneShotPeer& operator=(const OneShotPeer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Request bytes received (valid after the peer finished, e.g. after send()).
  [[nodiscard]] std::string received();

 private:
  std::uint16_t port_ = 0;  // before listener_: the listener's initializer writes it
  Fd listener_;
  std::string received_;
  std::thread thread_;
};

// Convenience: one request on a fresh connection.
std::optional<RawResponse> request_once(std::uint16_t port, std::string_view raw,
                                        std::chrono::milliseconds timeout = 3s);

std::string get(std::string_view path, std::string_view extra_headers = "");
std::string post_json(std::string_view path, std::string_view body,
                      std::string_view extra_headers = "");

// Error code from an {"error":{"code":...}} body, or "".
std::string error_code(const std::string& body);

double seconds_since(Clock::time_point t);

}  // namespace ticketing::http::test
