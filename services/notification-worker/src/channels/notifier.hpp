#pragma once
// Notifier: one way of telling a user something. Leaf channels (log, Discord,
// generic webhook) format a Message; composites (FanOut, Fallback) combine
// channels. Adding a channel = one Notifier subclass + one line in
// channels/wiring.cpp.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/message.hpp"
#include "ticketing/common/error.hpp"

namespace ticketing::http {
class Client;
}

namespace ticketing::notification {

// A channel did not accept a message. retryable(): timeouts, connection
// errors, 5xx, 408, 429; permanent: other 4xx, malformed configuration.
// Thrown out of the consumer handler, the HandlingLoop retries the retryable
// ones with backoff and dead-letters the rest.
class SendError : public InfraError {
 public:
  SendError(const std::string& what, bool retryable, int http_status = 0)
      : InfraError("notify: " + what, retryable), http_status_(http_status) {}
  [[nodiscard]] int http_status() const noexcept { return http_status_; }

 private:
  int http_status_;
};

class Notifier {
 public:
  virtual ~Notifier() = default;
  // Stable channel name (metrics label, dedupe key part).
  [[nodiscard]] virtual std::string name() const = 0;
  // Returns when the channel accepted the message; throws SendError.
  virtual void send(const Message& message) = 0;
};

using NotifierPtr = std::shared_ptr<Notifier>;

// Which (event, channel) pairs were already accepted; see RedisDeliveryLog.
class DeliveryLog {
 public:
  virtual ~DeliveryLog() = default;
  virtual bool sent(const std::string& event_id, const std::string& channel) = 0;
  virtual void mark_sent(const std::string& event_id, const std::string& channel) = 0;
};

// --- leaf channels ---------------------------------------------------------

class LogNotifier : public Notifier {
 public:
  [[nodiscard]] std::string name() const override { return "log"; }
  void send(const Message& message) override;
};

struct HttpChannelOptions {
  std::string url;
  std::chrono::milliseconds timeout{5000};
  // A 429/503 with Retry-After up to this long is waited out in place
  // (at most `in_place_retries` times); longer ones become a retryable error.
  std::chrono::milliseconds max_retry_after{10000};
  int in_place_retries = 3;
};

// POSTs a JSON body; classifies the answer (2xx ok, 408/429/5xx/transport
// retryable, other 4xx permanent); waits out Retry-After.
class HttpJsonChannel : public Notifier {
 public:
  HttpJsonChannel(std::shared_ptr<http::Client> client, HttpChannelOptions options);
  void send(const Message& message) override;
  [[nodiscard]] virtual std::string body(const Message& message) const = 0;

 private:
  std::shared_ptr<http::Client> client_;
  HttpChannelOptions options_;
};

// Discord webhook, embed format.
class DiscordNotifier : public HttpJsonChannel {
 public:
  // `name`: "discord" for buyers' messages, "ops" for the operations channel.
  DiscordNotifier(std::shared_ptr<http::Client> client, HttpChannelOptions options,
                  std::string name = "discord")
      : HttpJsonChannel(std::move(client), std::move(options)), name_(std::move(name)) {}
  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] std::string body(const Message& message) const override;

 private:
  std::string name_;
};

// Generic JSON webhook: {"userId","title","text","fields":{...},"colour",
// "time","eventId","eventType"}.
class WebhookNotifier : public HttpJsonChannel {
 public:
  using HttpJsonChannel::HttpJsonChannel;
  [[nodiscard]] std::string name() const override { return "webhook"; }
  [[nodiscard]] std::string body(const Message& message) const override;
};

// Retry-After: delta seconds (or an HTTP date: treated as 1 s).
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value);

// --- decorators and composites ---------------------------------------------

// Counts sent/failed per channel and observes latency.
class MeteredNotifier : public Notifier {
 public:
  explicit MeteredNotifier(NotifierPtr inner) : inner_(std::move(inner)) {}
  [[nodiscard]] std::string name() const override { return inner_->name(); }
  void send(const Message& message) override;

 private:
  NotifierPtr inner_;
};

// Primary first; when it fails, the secondary. Fails when both fail
// (retryable if either failure was).
class FallbackNotifier : public Notifier {
 public:
  FallbackNotifier(NotifierPtr primary, NotifierPtr secondary)
      : primary_(std::move(primary)), secondary_(std::move(secondary)) {}
  [[nodiscard]] std::string name() const override {
    return primary_->name() + ">" + secondary_->name();
  }
  void send(const Message& message) override;

 private:
  NotifierPtr primary_;
  NotifierPtr secondary_;
};

// Every channel gets the message; a failing channel does not stop the others.
// With a DeliveryLog, a channel that already accepted this event is skipped
// and a channel is marked only after it accepted. Fails (after trying all)
// when any channel failed: retryable if any failure was retryable.
class FanOutNotifier : public Notifier {
 public:
  FanOutNotifier(std::vector<NotifierPtr> channels, std::shared_ptr<DeliveryLog> log = {})
      : channels_(std::move(channels)), log_(std::move(log)) {}
  [[nodiscard]] std::string name() const override;
  void send(const Message& message) override;
  [[nodiscard]] const std::vector<NotifierPtr>& channels() const { return channels_; }

 private:
  std::vector<NotifierPtr> channels_;
  std::shared_ptr<DeliveryLog> log_;
};

}  // namespace ticketing::notification
