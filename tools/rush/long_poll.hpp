#pragma once
// Long polls for many waiting buyers at once (GET /v1/queue/status?waitSeconds=):
// one I/O thread, one connection per poll in flight, kept alive and reused,
// as thousands of browsers each holding one open request would.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "keepalive_client.hpp"

namespace ticketing::rush {

class LongPoller {
 public:
  // Runs on the poller's thread: keep it short (hand the reply over).
  using Callback = std::function<void(Reply)>;

  // `timeout`: the whole request, so longer than the server's wait.
  LongPoller(std::chrono::milliseconds timeout, std::size_t max_in_flight);
  ~LongPoller();  // stops; polls still out are dropped without a callback
  LongPoller(const LongPoller&) = delete;
  LongPoller& operator=(const LongPoller&) = delete;

  // A GET of `target` on `base` (http://host:port). False when
  // max_in_flight polls are out already: the caller polls the usual way.
  bool submit(const std::string& base, const std::string& target,
              std::map<std::string, std::string> headers, Callback done);
  // The most polls out at once so far.
  [[nodiscard]] std::size_t peak() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::rush
