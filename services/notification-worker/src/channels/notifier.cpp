#include "channels/notifier.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <thread>

#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/http/client.hpp"

namespace ticketing::notification {

using std::chrono::milliseconds;

namespace {

struct ChannelMetrics {
  metrics::Counter& sent;
  metrics::Counter& failed;
  metrics::Histogram& latency;
};

ChannelMetrics& channel_metrics(const std::string& channel) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<ChannelMetrics>> by_channel;
  std::lock_guard lock(mu);
  auto& slot = by_channel[channel];
  if (!slot) {
    auto& r = metrics::global();
    slot = std::make_unique<ChannelMetrics>(ChannelMetrics{
        r.counter("notify_sent_total", "Messages accepted by a channel", {{"channel", channel}}),
        r.counter("notify_failed_total", "Send attempts a channel did not accept",
                  {{"channel", channel}}),
        r.histogram("notify_send_latency_seconds", "Time a channel took to accept a message",
                    {{"channel", channel}})});
  }
  return *slot;
}

bool retryable_status(int status) {
  return status == 408 || status == 429 || status >= 500;
}

}  // namespace

std::optional<milliseconds> parse_retry_after(const std::string& value) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (value.size() > 9) return milliseconds(999'999'000);
    return milliseconds(std::stoll(value) * 1000);
  }
  return milliseconds(1000);
}

void LogNotifier::send(const Message& m) {
  std::string fields;
  for (const auto& f : m.fields) fields += (fields.empty() ? "" : "; ") + f.name + "=" + f.value;
  const std::string user = std::to_string(m.user_id);
  log::info("notification", {{"channel", "log"},
                             {"userId", user},
                             {"eventId", m.event_id},
                             {"eventType", m.event_type},
                             {"title", m.title},
                             {"text", m.text},
                             {"fields", fields},
                             {"time", m.time}});
}

HttpJsonChannel::HttpJsonChannel(std::shared_ptr<http::Client> client, HttpChannelOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

void HttpJsonChannel::send(const Message& m) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = options_.url;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = body(m);
  req.total_timeout = options_.timeout;
  req.connect_timeout = std::min(options_.timeout, milliseconds(2000));
  for (int waited = 0;; ++waited) {
    http::ClientResponse resp;
    try {
      resp = client_->send(req);
    } catch (const HttpClientError& e) {
      throw SendError(name() + ": " + e.what(), e.retryable());
    }
    if (resp.status >= 200 && resp.status < 300) return;
    const std::string error =
        name() + ": http " + std::to_string(resp.status) + ": " + resp.body.substr(0, 200);
    if (!retryable_status(resp.status)) throw SendError(error, false, resp.status);
    std::optional<milliseconds> retry_after;
    if (auto ra = resp.header("retry-after")) retry_after = parse_retry_after(*ra);
    if ((resp.status == 429 || resp.status == 503) && retry_after &&
        *retry_after <= options_.max_retry_after && waited < options_.in_place_retries) {
      log::info("rate limited; waiting Retry-After",
                {{"channel", name()},
                 {"event_id", m.event_id},
                 {"retry_after_ms", std::to_string(retry_after->count())}});
      std::this_thread::sleep_for(*retry_after);
      continue;
    }
    throw SendError(error, true, resp.status);
  }
}

std::string DiscordNotifier::body(const Message& m) const {
  ticketing::JsonWriter w;
  w.start_object().key("embeds").start_array().start_object();
  w.key("title").string(m.title);
  w.key("description").string(m.text);
  w.key("color").integer(static_cast<std::int64_t>(m.colour));
  w.key("fields").start_array();
  for (const auto& f : m.fields) {
    w.start_object().key("name").string(f.name).key("value").string(f.value);
    w.key("inline").boolean(f.inline_field).end_object();
  }
  w.end_array();
  const std::string to = m.user_id != 0 ? "user " + std::to_string(m.user_id) : "operations";
  w.key("footer").start_object().key("text").string(to + " · " + m.event_id);
  w.end_object();
  w.key("timestamp").string(m.time);
  w.end_object().end_array().end_object();
  return w.str();
}

std::string WebhookNotifier::body(const Message& m) const {
  ticketing::JsonWriter w;
  w.start_object();
  w.key("userId").integer(m.user_id);
  w.key("title").string(m.title);
  w.key("text").string(m.text);
  w.key("fields").start_object();
  for (const auto& f : m.fields) w.key(f.name).string(f.value);
  w.end_object();
  w.key("colour").string(colour_hex(m.colour));
  w.key("time").string(m.time);
  w.key("eventId").string(m.event_id);
  w.key("eventType").string(m.event_type);
  w.end_object();
  return w.str();
}

void MeteredNotifier::send(const Message& m) {
  ChannelMetrics& cm = channel_metrics(inner_->name());
  const auto start = std::chrono::steady_clock::now();
  try {
    inner_->send(m);
  } catch (...) {
    cm.failed.inc();
    throw;
  }
  cm.sent.inc();
  cm.latency.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

void FallbackNotifier::send(const Message& m) {
  try {
    primary_->send(m);
    return;
  } catch (const SendError& first) {
    log::warn("primary channel failed; trying fallback", {{"channel", primary_->name()},
                                                          {"fallback", secondary_->name()},
                                                          {"event_id", m.event_id},
                                                          {"error", first.what()}});
    try {
      secondary_->send(m);
    } catch (const SendError& second) {
      throw SendError(std::string(first.what()) + " | fallback " + second.what(),
                      first.retryable() || second.retryable(), second.http_status());
    }
  }
}

std::string FanOutNotifier::name() const {
  std::string out;
  for (const auto& c : channels_) out += (out.empty() ? "" : "+") + c->name();
  return out;
}

void FanOutNotifier::send(const Message& m) {
  std::string errors;
  bool failed = false;
  bool retryable = false;
  int status = 0;
  for (const auto& c : channels_) {
    const std::string channel = c->name();
    if (log_ && log_->sent(m.event_id, channel)) {
      log::info("already notified on this channel; skipping",
                {{"channel", channel}, {"event_id", m.event_id}});
      continue;
    }
    try {
      c->send(m);
    } catch (const SendError& e) {
      failed = true;
      retryable = retryable || e.retryable();
      if (status == 0) status = e.http_status();
      errors += (errors.empty() ? "" : " | ") + std::string(e.what());
      log::warn("channel failed",
                {{"channel", channel}, {"event_id", m.event_id}, {"error", e.what()}});
      continue;
    }
    if (log_) log_->mark_sent(m.event_id, channel);
  }
  if (failed) throw SendError(errors, retryable, status);
}

}  // namespace ticketing::notification
