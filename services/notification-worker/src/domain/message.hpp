#pragma once
// The channel-neutral notification: every consumed event becomes one Message
// (render(), one function per event type, in message.cpp); channels only
// format it.

#include <cstdint>
#include <string>
#include <vector>

namespace ticketing::events {
struct Envelope;
}

namespace ticketing::notification {

enum class Language { kEn, kKo };

// "en" / "ko"; anything else is kEn.
Language language_from(const std::string& code);

struct Field {
  std::string name;
  std::string value;
  bool inline_field = true;
};

struct Message {
  std::string event_id;
  std::string event_type;
  std::int64_t user_id = 0;  // the recipient
  std::string title;
  std::string text;
  std::vector<Field> fields;
  std::uint32_t colour = 0;  // 0xRRGGBB
  std::string time;          // RFC 3339, when it happened
};

// "#rrggbb"
std::string colour_hex(std::uint32_t colour);

// 55000 -> "55,000"
std::string group_thousands(std::int64_t n);

// The notification topics this service consumes.
const std::vector<std::string>& notification_topics();

// The topics whose events become operations-channel messages (seats.expired:
// one summary per expiry batch of a schedule).
const std::vector<std::string>& ops_topics();
bool is_ops_event(const std::string& type);

// Throws PoisonError for an unknown type or a payload it cannot read (the
// consumer validated it against its schema already).
Message render(const events::Envelope& envelope, Language language);
// An operations-channel message (user_id 0); throws PoisonError as render().
Message render_ops(const events::Envelope& envelope, Language language);

}  // namespace ticketing::notification
