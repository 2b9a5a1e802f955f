#include "channels/wiring.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

#include "ticketing/common/config.hpp"
#include "ticketing/http/client.hpp"

namespace ticketing::notification {

namespace {

struct Context {
  const ChannelOptions& s;
  std::shared_ptr<http::Client> client;
  [[nodiscard]] HttpChannelOptions http(const std::string& url) const {
    HttpChannelOptions o;
    o.url = url;
    o.timeout = s.timeout;
    o.max_retry_after = s.max_retry_after;
    return o;
  }
};

struct ChannelDef {
  // Variable the channel needs (empty = none) and its value in the settings.
  const char* required_var;
  std::string ChannelOptions::*required_value;
  std::function<NotifierPtr(const Context&)> make;
};

// One line per channel.
const std::map<std::string, ChannelDef>& registry() {
  static const std::map<std::string, ChannelDef> r = {
      {"log", {"", nullptr, [](const Context&) { return std::make_shared<LogNotifier>(); }}},
      {"discord",
       {"DISCORD_WEBHOOK_URL", &ChannelOptions::discord_url,
        [](const Context& c) {
          return std::make_shared<DiscordNotifier>(c.client, c.http(c.s.discord_url));
        }}},
      {"webhook",
       {"WEBHOOK_URL", &ChannelOptions::webhook_url,
        [](const Context& c) {
          return std::make_shared<WebhookNotifier>(c.client, c.http(c.s.webhook_url));
        }}},
  };
  return r;
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    const auto e = item.find_last_not_of(" \t");
    out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

bool is_http_url(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

}  // namespace

std::vector<std::string> channel_names() {
  std::vector<std::string> out;
  for (const auto& [name, def] : registry()) out.push_back(name);
  return out;
}

ChannelOptions read_channel_options(EnvReader& env) {
  ChannelOptions s;
  s.discord_url = env.str("DISCORD_WEBHOOK_URL", "");
  s.webhook_url = env.str("WEBHOOK_URL", "");
  s.ops_discord_url = env.str("OPS_DISCORD_WEBHOOK_URL", "");
  s.primaries = split_names(env.str("NOTIFY_CHANNELS", ""));
  s.fallback = env.str("NOTIFY_FALLBACK", "");
  s.timeout = std::chrono::milliseconds(env.integer("NOTIFY_TIMEOUT_MS", 5000, 1, 600000));
  s.max_retry_after =
      std::chrono::milliseconds(env.integer("NOTIFY_RETRY_AFTER_MAX_MS", 10000, 0, 600000));
  s.tls_verify = env.boolean("NOTIFY_TLS_VERIFY", true);
  if (!s.discord_url.empty() && !is_http_url(s.discord_url))
    env.fail("DISCORD_WEBHOOK_URL", "must start with http:// or https://");
  if (!s.webhook_url.empty() && !is_http_url(s.webhook_url))
    env.fail("WEBHOOK_URL", "must start with http:// or https://");
  if (!s.ops_discord_url.empty() && !is_http_url(s.ops_discord_url))
    env.fail("OPS_DISCORD_WEBHOOK_URL", "must start with http:// or https://");
  if (s.primaries.empty()) {
    if (!s.discord_url.empty()) s.primaries.push_back("discord");
    if (!s.webhook_url.empty()) s.primaries.push_back("webhook");
    if (s.primaries.empty()) s.primaries.push_back("log");
  }
  std::vector<std::string> seen;
  auto check = [&](const std::string& var, const std::string& name) {
    auto it = registry().find(name);
    if (it == registry().end()) {
      std::string known;
      for (const auto& n : channel_names()) known += (known.empty() ? "" : ", ") + n;
      env.fail(var, "unknown channel '" + name + "' (known: " + known + ")");
      return;
    }
    const ChannelDef& def = it->second;
    if (def.required_value != nullptr && (s.*def.required_value).empty())
      env.fail(def.required_var, "required by channel '" + name + "' (" + var + ")");
  };
  for (const auto& name : s.primaries) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      env.fail("NOTIFY_CHANNELS", "channel '" + name + "' listed twice");
    seen.push_back(name);
    check("NOTIFY_CHANNELS", name);
  }
  if (!s.fallback.empty()) {
    if (s.fallback.find(',') != std::string::npos)
      env.fail("NOTIFY_FALLBACK", "one channel name expected");
    else
      check("NOTIFY_FALLBACK", s.fallback);
  }
  return s;
}

namespace {

std::shared_ptr<http::Client> http_client(const ChannelOptions& s) {
  http::ClientOptions co;
  co.verify_tls = s.tls_verify;
  co.user_agent = "notification-worker";
  co.max_response_bytes = 64 * 1024;
  return std::make_shared<http::Client>(co);
}

}  // namespace

std::shared_ptr<FanOutNotifier> build_ops_notifier(const ChannelOptions& s,
                                                   std::shared_ptr<DeliveryLog> log) {
  NotifierPtr ops;
  if (s.ops_discord_url.empty()) {
    ops = std::make_shared<MeteredNotifier>(std::make_shared<LogNotifier>());
  } else {
    Context ctx{s, http_client(s)};
    ops = std::make_shared<MeteredNotifier>(
        std::make_shared<DiscordNotifier>(ctx.client, ctx.http(s.ops_discord_url), "ops"));
  }
  return std::make_shared<FanOutNotifier>(std::vector<NotifierPtr>{ops}, std::move(log));
}

std::shared_ptr<FanOutNotifier> build_notifier(const ChannelOptions& s,
                                               std::shared_ptr<DeliveryLog> log) {
  Context ctx{s, http_client(s)};
  std::map<std::string, NotifierPtr> made;
  auto make = [&](const std::string& name) {
    auto it = made.find(name);
    if (it != made.end()) return it->second;
    NotifierPtr n = std::make_shared<MeteredNotifier>(registry().at(name).make(ctx));
    made.emplace(name, n);
    return n;
  };
  std::vector<NotifierPtr> top;
  for (const auto& name : s.primaries) {
    NotifierPtr n = make(name);
    if (!s.fallback.empty() && s.fallback != name)
      n = std::make_shared<FallbackNotifier>(n, make(s.fallback));
    top.push_back(std::move(n));
  }
  return std::make_shared<FanOutNotifier>(std::move(top), std::move(log));
}

}  // namespace ticketing::notification
