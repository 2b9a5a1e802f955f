#include "test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>

#include <array>
#include <cctype>
#include <stdexcept>

namespace ticketing::http::test {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  reset();
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Reads what is available within the remaining time; 0 = EOF, -1 = timeout
// or error (errno set; ETIMEDOUT for a timeout).
long read_some(int fd, char* buf, std::size_t len, Clock::time_point deadline) {
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    long n = ::recv(fd, buf, len, 0);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

}  // namespace

Fd connect_local(std::uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  if (!fd.valid()) throw std::runtime_error("socket() failed");
  auto addr = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd{};
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

Fd listen_local(std::uint16_t& port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  auto addr = loopback(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    throw std::runtime_error("cannot listen on loopback");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

std::uint16_t closed_port() {
  std::uint16_t port = 0;
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  auto addr = loopback(0);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return port;  // closed on return, never listened
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    long n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<RawResponse> read_response(int fd, std::chrono::milliseconds timeout,
                                         std::string* carry) {
  auto deadline = Clock::now() + timeout;
  std::string data = carry ? std::move(*carry) : std::string{};
  if (carry) carry->clear();
  std::array<char, 16384> buf{};
  std::size_t header_end = std::string::npos;
  RawResponse res;
  std::size_t content_length = 0;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string_view head(data.data(), header_end);
        auto line_end = head.find("\r\n");
        std::string_view status_line = head.substr(0, line_end);
        if (status_line.substr(0, 9) != "HTTP/1.1 " && status_line.substr(0, 9) != "HTTP/1.0 ")
          return std::nullopt;
        res.status = std::stoi(std::string(status_line.substr(9, 3)));
        while (line_end != std::string_view::npos) {
          head.remove_prefix(line_end + 2);
          line_end = head.find("\r\n");
          auto line = head.substr(0, line_end);
          auto colon = line.find(':');
          if (colon == std::string_view::npos) continue;
          std::string name(line.substr(0, colon));
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          auto value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
          res.headers[name] = std::string(value);
        }
        if (auto it = res.headers.find("content-length"); it != res.headers.end()) {
          content_length = std::stoul(it->second);
        }
        if (res.status / 100 == 1) {  // interim response: drop it and read on
          data.erase(0, header_end + 4);
          header_end = std::string::npos;
          res = RawResponse{};
          continue;
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) {
      res.body = data.substr(header_end + 4, content_length);
      if (carry) *carry = data.substr(header_end + 4 + content_length);
      return res;
    }
    long n = read_some(fd, buf.data(), buf.size(), deadline);
    if (n <= 0) return std::nullopt;
    data.append(buf.data(), static_cast<std::size_t>(n));
  }
}

PeerState wait_closed(int fd, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::array<char, 16384> buf{};
  for (;;) {
    long n = read_some(fd, buf.data(), buf.size(), deadline);
    if (n == 0) return PeerState::kClosed;
    if (n < 0) return errno == ETIMEDOUT ? PeerState::kOpen : PeerState::kClosed;
  }
}

std::string read_until(int fd, std::string_view marker, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string data;
  std::array<char, 4096> buf{};
  while (data.find(marker) == std::string::npos) {
    long n = read_some(fd, buf.data(), buf.size(), deadline);
    if (n <= 0) return "";
    data.append(buf.data(), static_cast<std::size_t>(n));
  }
  return data;
}

OneShotPeer::OneShotPeer(std::string reply, bool read_request) : listener_(listen_local(port_)) {
  thread_ = std::thread([this, reply = std::move(reply), read_request] {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return;
    Fd conn(::accept(listener_.get(), nullptr, nullptr));
    if (!conn.valid()) return;
    if (read_request) received_ = read_until(conn.get(), "\r\n\r\n", 5s);
    send_all(conn.get(), reply);
    ::shutdown(conn.get(), SHUT_WR);
    wait_closed(conn.get(), 2s);
  });
}

OneShotPeer::~OneShotPeer() {
  if (thread_.joinable()) thread_.join();
}

std::string OneShotPeer::received() {
  if (thread_.joinable()) thread_.join();
  return received_;
}

std::optional<RawResponse> request_once(std::uint16_t port, std::string_view raw,
                                        std::chrono::milliseconds timeout) {
  auto fd = connect_local(port);
  if (!fd.valid() || !send_all(fd.get(), raw)) return std::nullopt;
  return read_response(fd.get(), timeout);
}

std::string get(std::string_view path, std::string_view extra_headers) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

std::string post_json(std::string_view path, std::string_view body,
                      std::string_view extra_headers) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
         std::string(extra_headers) + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

std::string error_code(const std::string& body) {
  constexpr std::string_view kPrefix = R"({"error":{"code":")";
  if (body.rfind(kPrefix, 0) != 0) return "";
  auto end = body.find('"', kPrefix.size());
  return body.substr(kPrefix.size(), end - kPrefix.size());
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace ticketing::http::test
