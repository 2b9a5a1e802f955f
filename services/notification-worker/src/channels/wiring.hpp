#pragma once
// Channels from the environment:
//   NOTIFY_CHANNELS   comma-separated channel names; all receive every message
//   NOTIFY_FALLBACK   a channel tried when a primary fails (wraps each primary)
//   DISCORD_WEBHOOK_URL, WEBHOOK_URL
// Without NOTIFY_CHANNELS: the channels whose URL is set (discord, webhook),
// else the log channel.

#include <memory>
#include <string>
#include <vector>

#include "channels/notifier.hpp"

namespace ticketing {
class EnvReader;
}

namespace ticketing::notification {

struct ChannelOptions {
  std::vector<std::string> primaries;
  std::string fallback;  // empty = none
  std::string discord_url;
  std::string webhook_url;
  std::string ops_discord_url;  // OPS_DISCORD_WEBHOOK_URL: the operations channel (optional)
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds max_retry_after{10000};
  bool tls_verify = true;
};

// Reads and checks the variables above (problems go to env.fail).
ChannelOptions read_channel_options(EnvReader& env);

// Known channel names.
std::vector<std::string> channel_names();

// The top-level notifier: a FanOut over the primaries (each wrapped in a
// Fallback when a fallback is set), deduplicated through `log`.
std::shared_ptr<FanOutNotifier> build_notifier(const ChannelOptions& s,
                                               std::shared_ptr<DeliveryLog> log);

// The operations channel (Discord, channel name "ops"), deduplicated through
// `log`; without OPS_DISCORD_WEBHOOK_URL, the log channel.
std::shared_ptr<FanOutNotifier> build_ops_notifier(const ChannelOptions& s,
                                                   std::shared_ptr<DeliveryLog> log);

}  // namespace ticketing::notification
