#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ticketing/common/error.hpp"
#include "ticketing/redis/options.hpp"
#include "ticketing/redis/reply.hpp"

namespace ticketing::redis {

using Command = std::vector<std::string>;

// One Redis connection (hiredis, blocking, with connect and command timeouts).
// Connects lazily and again after any connection error. Not thread-safe: use
// a Pool to share between threads.
//
// Errors: an error reply (WRONGTYPE, ERR ...) throws RedisError, not
// retryable, except the transient ones (LOADING, BUSY, TRYAGAIN, MASTERDOWN,
// READONLY, CLUSTERDOWN). A connection failure or timeout throws a retryable
// RedisError and drops the connection: the command may or may not have run.
class Client {
 public:
  explicit Client(RedisOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Binary-safe: every argument is sent with its length.
  Reply command(const Command& args);
  // Sends every command, then reads every reply: one round trip. Error
  // replies are returned as Reply::Type::kError values at their position.
  std::vector<Reply> pipeline(const std::vector<Command>& commands);

  void connect();  // eager connect; throws RedisError(retryable)
  void ping();     // PING, throws
  void disconnect() noexcept;
  [[nodiscard]] bool connected() const noexcept;
  [[nodiscard]] const RedisOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for error replies that are worth retrying (server loading, busy script, failover).
[[nodiscard]] bool is_retryable_error_reply(const std::string& message) noexcept;

// A Lua script run with EVALSHA, falling back to EVAL (which also caches it
// on the server) when the server answers NOSCRIPT, e.g. after a restart or
// SCRIPT FLUSH.
class Script {
 public:
  explicit Script(std::string lua);
  [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }
  [[nodiscard]] const std::string& source() const noexcept { return lua_; }

  Reply run(Client& client, const std::vector<std::string>& keys,
            const std::vector<std::string>& args = {}) const;

  // The EVALSHA command of run(), to send in a pipeline with others. Its
  // reply is a NOSCRIPT error (see is_noscript) when the server does not
  // know the script yet: then run() it.
  [[nodiscard]] Command evalsha(const std::vector<std::string>& keys,
                                const std::vector<std::string>& args = {}) const;
  [[nodiscard]] static bool is_noscript(const Reply& reply);

 private:
  std::string lua_;
  std::string sha1_;  // lower-case hex
};

}  // namespace ticketing::redis
