#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ticketing/auth/id_token.hpp"
#include "ticketing/http/client.hpp"

namespace ticketing::auth {

namespace {

constexpr std::size_t kMaxJwksBytes = 1024 * 1024;

class FileJwksSource final : public JwksSource {
 public:
  explicit FileJwksSource(std::string path) : path_(std::move(path)) {}

  std::string fetch() override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path_);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) throw std::runtime_error("cannot read " + path_);
    std::string s = std::move(text).str();
    if (s.size() > kMaxJwksBytes) throw std::runtime_error(path_ + " is larger than 1 MiB");
    return s;
  }
  [[nodiscard]] std::string describe() const override { return "file " + path_; }

 private:
  std::string path_;
};

// The project's HTTP client: one connection per fetch, TLS verified against
// the system CAs, body capped.
class HttpJwksSource final : public JwksSource {
 public:
  HttpJwksSource(std::string url, std::chrono::milliseconds timeout)
      : url_(std::move(url)), timeout_(timeout), client_(options()) {}

  std::string fetch() override {
    http::ClientRequest request;
    request.method = "GET";
    request.url = url_;
    request.headers.emplace_back("Accept", "application/json");
    request.connect_timeout = std::min(timeout_, std::chrono::milliseconds(2000));
    request.total_timeout = timeout_;
    auto response = client_.send(request);  // throws HttpClientError
    if (response.status != 200)
      throw std::runtime_error("GET " + url_ + " answered " + std::to_string(response.status));
    return std::move(response.body);
  }
  [[nodiscard]] std::string describe() const override { return "url " + url_; }

 private:
  static http::ClientOptions options() {
    http::ClientOptions o;
    o.max_response_bytes = kMaxJwksBytes;
    o.user_agent = "ticketing-jwks";
    return o;
  }
  std::string url_;
  std::chrono::milliseconds timeout_;
  http::Client client_;
};

}  // namespace

std::unique_ptr<JwksSource> make_jwks_source(const std::string& location,
                                             std::chrono::milliseconds timeout) {
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0)
    return std::make_unique<HttpJwksSource>(location, timeout);
  if (location.empty()) throw std::invalid_argument("JWKS location is empty");
  return std::make_unique<FileJwksSource>(location);
}

}  // namespace ticketing::auth
