#include "app.hpp"

#include <memory>
#include <string>

#include "channels/notifier.hpp"
#include "channels/wiring.hpp"
#include "config.hpp"
#include "domain/message.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/redis/pool.hpp"
#include "ticketing/service/consumer_worker.hpp"

namespace ticketing::notification {

service::HostSpec spec() {
  return service::HostSpec::redis_worker("notification-worker", 9085);
}

namespace {

// <prefix>sent:<eventId>:<channel>, written after the channel accepted.
class RedisDeliveryLog : public DeliveryLog {
 public:
  RedisDeliveryLog(redis::Pool& pool, std::string prefix, std::chrono::seconds ttl)
      : pool_(pool), prefix_(std::move(prefix)), ttl_(ttl) {}
  bool sent(const std::string& event_id, const std::string& channel) override {
    return pool_.command({"EXISTS", key(event_id, channel)}).as_integer() > 0;
  }
  void mark_sent(const std::string& event_id, const std::string& channel) override {
    pool_.command({"SET", key(event_id, channel), "1", "EX", std::to_string(ttl_.count())});
  }

 private:
  [[nodiscard]] std::string key(const std::string& event_id, const std::string& channel) const {
    return prefix_ + "sent:" + event_id + ":" + channel;
  }
  redis::Pool& pool_;
  std::string prefix_;
  std::chrono::seconds ttl_;
};

}  // namespace

service::Setup configure(EnvReader& env) {
  Config s = Config::read(env);
  return [s](service::ServiceHost& host) {
    auto log =
        std::make_shared<RedisDeliveryLog>(host.infra().redis(), s.redis_prefix, s.dedupe_ttl);
    std::shared_ptr<Notifier> notifier = build_notifier(s.channels, log);
    // The operations channel (the log without OPS_DISCORD_WEBHOOK_URL): expiry
    // summaries (seats.expired).
    std::shared_ptr<Notifier> ops = build_ops_notifier(s.channels, log);
    std::vector<std::string> topics = notification_topics();
    topics.insert(topics.end(), ops_topics().begin(), ops_topics().end());
    auto& dead = metrics::global().counter("notify_dead_lettered_total",
                                           "Notifications handed to notifications.dlq (counted "
                                           "when the DLQ acknowledged them)");
    auto& handled =
        metrics::global().counter("notify_events_total", "Notification events fully delivered");
    const Language language = s.language;
    events::EventHandler handler = [notifier, ops, language, &handled](const events::Event& e) {
      if (is_ops_event(e.envelope->type)) {
        ops->send(render_ops(*e.envelope, language));
      } else {
        notifier->send(render(*e.envelope, language));
      }
      handled.inc();
    };
    auto handling = s.handling;
    handling.on_dead_lettered = [&dead](const events::Message&, events::DeadLetterCause) {
      dead.inc();
    };
    auto worker = std::make_shared<service::ConsumerWorker>(host, topics, handler, handling);
    worker->start();
    log::info("notifying", {{"channels", notifier->name()},
                            {"operations", ops->name()},
                            {"language", language == Language::kKo ? "ko" : "en"}});
    return service::Teardown([worker] { worker->stop(); });
  };
}

}  // namespace ticketing::notification
