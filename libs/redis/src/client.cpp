#include "ticketing/redis/client.hpp"

#include <sys/time.h>

#include <fmt/format.h>
#include <hiredis.h>
#include <openssl/evp.h>

namespace ticketing::redis {

namespace {

struct ContextFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Reply convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return Reply::string(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return Reply::status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return Reply::error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return Reply::integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) elements.push_back(convert(r->element[i]));
      return Reply::array(std::move(elements));
    }
    default:
      return Reply();  // REDIS_REPLY_NIL
  }
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// argv views of a command; hiredis copies them into its output buffer.
struct Argv {
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lens;
  explicit Argv(const Command& args) {
    ptrs.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  [[nodiscard]] int argc() const { return static_cast<int>(ptrs.size()); }
};

std::string hex_sha1(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha1(), nullptr) != 1) {
    throw RedisError("SHA-1 of script failed", false);
  }
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

}  // namespace

bool is_retryable_error_reply(const std::string& message) noexcept {
  for (std::string_view p :
       {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY", "CLUSTERDOWN"}) {
    if (starts_with(message, p)) return true;
  }
  return false;
}

struct Client::Impl {
  RedisOptions options;
  ContextPtr ctx;

  [[noreturn]] void connection_failed(std::string_view what) {
    std::string reason = ctx && ctx->err != 0 ? ctx->errstr : "connection lost";
    // The stream may hold a late reply: never reuse it.
    ctx.reset();
    throw RedisError(fmt::format("{} on {}: {}", what, options.describe(), reason), true);
  }

  Reply send(const Command& args) {
    ensure_connected();
    Argv argv(args);
    void* raw = redisCommandArgv(ctx.get(), argv.argc(), argv.ptrs.data(), argv.lens.data());
    if (raw == nullptr) connection_failed(args.empty() ? "command" : args.front());
    ReplyPtr reply(static_cast<redisReply*>(raw));
    return convert(reply.get());
  }

  Reply send_checked(const Command& args) {
    Reply r = send(args);
    if (r.is_error()) {
      throw RedisError(fmt::format("{}: {}", args.front(), r.error_message()),
                       is_retryable_error_reply(r.error_message()));
    }
    return r;
  }

  void ensure_connected() {
    if (ctx) return;
    ContextPtr c(redisConnectWithTimeout(options.host.c_str(), static_cast<int>(options.port),
                                         to_timeval(options.connect_timeout)));
    if (!c) throw RedisError("cannot allocate a redis context", true);
    if (c->err != 0) {
      throw RedisError(fmt::format("connect to {} failed: {}", options.describe(), c->errstr),
                       true);
    }
    if (redisSetTimeout(c.get(), to_timeval(options.command_timeout)) != REDIS_OK) {
      throw RedisError(
          fmt::format("setting timeouts on {} failed: {}", options.describe(), c->errstr), true);
    }
    ctx = std::move(c);
    try {
      if (!options.password.empty()) {
        Command auth = options.user.empty() ? Command{"AUTH", options.password}
                                            : Command{"AUTH", options.user, options.password};
        Reply r = send(auth);
        if (r.is_error()) throw RedisError("AUTH failed: " + r.error_message(), false);
      }
      if (options.db != 0) send_checked({"SELECT", std::to_string(options.db)});
    } catch (...) {
      ctx.reset();
      throw;
    }
  }
};

Client::Client(RedisOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Reply Client::command(const Command& args) {
  if (args.empty()) throw RedisError("empty command", false);
  return impl_->send_checked(args);
}

std::vector<Reply> Client::pipeline(const std::vector<Command>& commands) {
  std::vector<Reply> replies;
  if (commands.empty()) return replies;
  impl_->ensure_connected();
  for (const auto& args : commands) {
    if (args.empty()) throw RedisError("empty command in pipeline", false);
  }
  // hiredis only buffers until the first redisGetReply, which flushes.
  for (const auto& args : commands) {
    Argv argv(args);
    if (redisAppendCommandArgv(impl_->ctx.get(), argv.argc(), argv.ptrs.data(), argv.lens.data()) !=
        REDIS_OK) {
      impl_->connection_failed("pipeline append");
    }
  }
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(impl_->ctx.get(), &raw) != REDIS_OK || raw == nullptr) {
      impl_->connection_failed("pipeline read");
    }
    ReplyPtr reply(static_cast<redisReply*>(raw));
    replies.push_back(convert(reply.get()));
  }
  return replies;
}

void Client::connect() {
  impl_->ensure_connected();
}

void Client::ping() {
  Reply r = command({"PING"});
  if (!r.is_status() || r.as_status() != "PONG") {
    throw RedisError("unexpected PING reply: " + r.debug_string(), true);
  }
}

void Client::disconnect() noexcept {
  impl_->ctx.reset();
}
bool Client::connected() const noexcept {
  return impl_->ctx != nullptr;
}
const RedisOptions& Client::options() const noexcept {
  return impl_->options;
}

Script::Script(std::string lua) : lua_(std::move(lua)), sha1_(hex_sha1(lua_)) {}

Command Script::evalsha(const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) const {
  Command cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.emplace_back("EVALSHA");
  cmd.push_back(sha1_);
  cmd.push_back(std::to_string(keys.size()));
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

bool Script::is_noscript(const Reply& reply) {
  return reply.is_error() && starts_with(reply.error_message(), "NOSCRIPT");
}

Reply Script::run(Client& client, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args) const {
  Command cmd = evalsha(keys, args);
  // pipeline() returns error replies as values: NOSCRIPT is expected here.
  Reply r = std::move(client.pipeline({cmd}).front());
  if (is_noscript(r)) {
    cmd[0] = "EVAL";
    cmd[1] = lua_;
    r = std::move(client.pipeline({cmd}).front());
  }
  if (r.is_error()) {
    throw RedisError("script " + sha1_.substr(0, 12) + ": " + r.error_message(),
                     is_retryable_error_reply(r.error_message()));
  }
  return r;
}

}  // namespace ticketing::redis
