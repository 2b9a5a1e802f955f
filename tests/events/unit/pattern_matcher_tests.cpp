// The native `pattern` matchers (libs/events/src/pattern_matchers.cpp) against
// RapidJSON's own regex engine, on generated strings: valid ones, near misses
// (one character replaced, removed or added, lengths off by one), random ones,
// and texts with NUL or non-ASCII bytes. Both must give the same verdict for
// every string, through the regex the schema validator really uses.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "schema_regex.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <rapidjson/document.h>
#pragma GCC diagnostic pop

#include "ticketing/events/schema.hpp"

using ticketing::events::detail::native_matcher;
using ticketing::events::detail::SchemaRegex;

namespace {

const std::string kUuid =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const std::string kProducer = "^[a-z][a-z0-9._-]{0,63}$";
const std::string kTrace = "^[0-9a-f]{32}$";
const std::string kTimestamp =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}"
    ")$";

// Characters that are near every class used by the patterns, plus others.
const std::string kAlphabet = std::string("0159afgzAFGZT-+:._/ Zx") + '\x01' + '\x7f' + '\t';

struct Gen {
  std::mt19937 rng{20261124};
  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  }
  char pick(const std::string& chars) { return chars[below(chars.size())]; }
  std::string run(const std::string& chars, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += pick(chars);
    return s;
  }
};

const std::string kDigits = "0123456789";
const std::string kLowerHex = "0123456789abcdef";
const std::string kAnyHex = "0123456789abcdefABCDEF";
const std::string kLower = "abcdefghijklmnopqrstuvwxyz";
const std::string kNameTail = "abcdefghijklmnopqrstuvwxyz0123456789._-";

std::string valid_uuid(Gen& g) {
  return g.run(kAnyHex, 8) + "-" + g.run(kAnyHex, 4) + "-" + g.run(kAnyHex, 4) + "-" +
         g.run(kAnyHex, 4) + "-" + g.run(kAnyHex, 12);
}
std::string valid_producer(Gen& g) {
  return g.run(kLower, 1) + g.run(kNameTail, g.below(64));
}
std::string valid_trace(Gen& g) {
  return g.run(kLowerHex, 32);
}
std::string valid_timestamp(Gen& g) {
  std::string s = g.run(kDigits, 4) + "-" + g.run(kDigits, 2) + "-" + g.run(kDigits, 2) + "T" +
                  g.run(kDigits, 2) + ":" + g.run(kDigits, 2) + ":" + g.run(kDigits, 2);
  if (g.below(2) == 0) s += "." + g.run(kDigits, 1 + g.below(9));
  switch (g.below(3)) {
    case 0:
      s += "Z";
      break;
    case 1:
      s += "+" + g.run(kDigits, 2) + ":" + g.run(kDigits, 2);
      break;
    default:
      s += "-" + g.run(kDigits, 2) + ":" + g.run(kDigits, 2);
      break;
  }
  return s;
}

// Every one-character replacement, removal and insertion of `base`
// (replacements and insertions from kAlphabet), plus truncations.
void near_misses(const std::string& base, std::vector<std::string>& out) {
  for (std::size_t i = 0; i <= base.size(); ++i) {
    for (const char c : kAlphabet) {
      if (i < base.size()) {
        std::string r = base;
        r[i] = c;
        out.push_back(r);
      }
      std::string ins = base;
      ins.insert(ins.begin() + static_cast<std::ptrdiff_t>(i), c);
      out.push_back(ins);
    }
    if (i < base.size()) {
      std::string del = base;
      del.erase(i, 1);
      out.push_back(del);
      out.push_back(base.substr(0, i));
    }
  }
  out.push_back(base + base);
}

// Texts where RapidJSON's engine stops early: at a NUL (it reads a C string),
// or at the first byte sequence that is not valid UTF-8, so a valid text
// followed by "\xB0" passes: the registry must keep that verdict too.
void odd_bytes(const std::string& base, std::vector<std::string>& out) {
  out.push_back(base + std::string(1, '\0') + "garbage");
  out.push_back(base.substr(0, base.size() / 2) + std::string(1, '\0') +
                base.substr(base.size() / 2));
  for (const char c : std::string("\x80\xB0\xC0\xC3\xE2\xF0\xFF")) {
    out.push_back(base + c);
    std::string mid = base;
    mid[mid.size() / 2] = c;
    out.push_back(mid);
    std::string front = base;
    front[0] = c;
    out.push_back(front);
  }
  out.push_back(std::string(base.size(), '\xB0'));
  out.push_back(base + "\xC3\xA9");  // valid 2-byte UTF-8
}

struct Tally {
  std::size_t accepted = 0;
  std::size_t rejected = 0;
};

Tally compare(const std::string& pattern, const std::vector<std::string>& texts) {
  const SchemaRegex ours(pattern.c_str());
  const rapidjson::internal::Regex engine(pattern.c_str());  // RapidJSON 1.1's own
  REQUIRE(ours.IsValid());
  REQUIRE(engine.IsValid());
  REQUIRE(ours.HasNativeMatcher());
  Tally t;
  for (const auto& s : texts) {
    const bool expected = engine.Search(s.c_str());
    const bool got = ours.Search(s.c_str());
    if (got != expected) {
      INFO("pattern " << pattern << " text '" << s << "' (" << s.size() << " bytes)");
      CHECK(got == expected);
    }
    ++(expected ? t.accepted : t.rejected);
  }
  return t;
}

void run(const std::string& pattern, std::string (*valid)(Gen&), std::size_t bases,
         std::size_t randoms, std::size_t min_accepted) {
  Gen g;
  std::vector<std::string> texts{""};
  for (std::size_t b = 0; b < bases; ++b) {
    const std::string base = valid(g);
    texts.push_back(base);
    near_misses(base, texts);
    odd_bytes(base, texts);
  }
  for (std::size_t r = 0; r < randoms; ++r) texts.push_back(g.run(kAlphabet, g.below(70)));
  for (std::size_t r = 0; r < randoms; ++r) texts.push_back(valid(g));
  const Tally t = compare(pattern, texts);
  INFO(pattern << ": " << t.accepted << " accepted, " << t.rejected << " rejected");
  CHECK(t.accepted >= min_accepted);
  CHECK(t.rejected >= 1000);
}

}  // namespace

TEST_CASE("native uuid matcher agrees with RapidJSON's regex", "[pattern]") {
  run(kUuid, valid_uuid, 40, 3000, 3000);
}

TEST_CASE("native trace id matcher agrees with RapidJSON's regex", "[pattern]") {
  run(kTrace, valid_trace, 40, 3000, 3000);
}

TEST_CASE("native timestamp matcher agrees with RapidJSON's regex", "[pattern]") {
  run(kTimestamp, valid_timestamp, 60, 3000, 3000);
  // the optional fraction: 0 to 11 digits, with each ending
  Gen g;
  std::vector<std::string> texts;
  for (std::size_t n = 0; n <= 11; ++n) {
    for (const std::string end : {"Z", "+09:00", "-00:30", "", "z", "+0900", "Z "}) {
      texts.push_back("2026-03-14T09:30:00" + std::string(n > 0 ? "." : "") + g.run(kDigits, n) +
                      end);
    }
    texts.push_back("2026-03-14T09:30:00." + g.run(kDigits, n) + "Z");
  }
  const Tally t = compare(kTimestamp, texts);
  CHECK(t.accepted >= 27);
}

TEST_CASE("native producer name matcher agrees with RapidJSON's regex", "[pattern]") {
  // RapidJSON's engine needs ~0.1 ms per text for this one: fewer texts.
  run(kProducer, valid_producer, 6, 1500, 1500);
  Gen g;
  std::vector<std::string> texts;
  for (std::size_t n = 0; n <= 67; ++n) texts.push_back("a" + g.run(kNameTail, n));
  const Tally t = compare(kProducer, texts);
  CHECK(t.accepted == 64);  // 1 to 64 characters
}

TEST_CASE("every pattern of the builtin schemas has a native matcher", "[pattern]") {
  // Otherwise it silently falls back to RapidJSON's slow, locked engine.
  std::set<std::string> patterns;
  for (const auto& src : ticketing::events::builtin_schema_sources()) {
    rapidjson::Document d;
    d.Parse(src.json.data(), src.json.size());
    REQUIRE_FALSE(d.HasParseError());
    std::vector<const rapidjson::Value*> todo{&d};
    while (!todo.empty()) {
      const rapidjson::Value* v = todo.back();
      todo.pop_back();
      if (v->IsObject()) {
        for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
          if (std::string(it->name.GetString()) == "pattern" && it->value.IsString()) {
            patterns.insert(it->value.GetString());
          }
          todo.push_back(&it->value);
        }
      } else if (v->IsArray()) {
        for (const auto& e : v->GetArray()) todo.push_back(&e);
      }
    }
  }
  CHECK(patterns == std::set<std::string>{kUuid, kProducer, kTrace, kTimestamp});
  for (const auto& p : patterns) {
    INFO(p);
    CHECK(native_matcher(p) != nullptr);
  }
  CHECK(native_matcher("^[0-9]+$") == nullptr);
}

TEST_CASE("patterns without a native matcher still use RapidJSON's engine", "[pattern]") {
  const SchemaRegex re("^[0-9]+(x|y)$");
  REQUIRE(re.IsValid());
  CHECK_FALSE(re.HasNativeMatcher());
  CHECK(re.Search("123x"));
  CHECK_FALSE(re.Search("123z"));
  CHECK_FALSE(re.Search("x"));
  CHECK_FALSE(SchemaRegex("^\\d+$").IsValid());
}

TEST_CASE("the engine fallback gives the right verdict from many threads at once", "[pattern]") {
  // Non-ASCII text goes to RapidJSON's engine, whose match state lives in the
  // object: the lock inside SchemaRegex must keep concurrent verdicts right.
  const SchemaRegex re(kTrace.c_str());
  // RapidJSON's engine ends the text at the first invalid UTF-8 byte.
  const std::string cut_short = std::string(32, 'a') + "\xB0zz";
  const std::string accented = std::string(31, 'a') + "\xC3\xA9";
  REQUIRE(rapidjson::internal::Regex(kTrace.c_str()).Search(cut_short.c_str()));
  REQUIRE_FALSE(rapidjson::internal::Regex(kTrace.c_str()).Search(accented.c_str()));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        if (!re.Search(cut_short.c_str())) wrong.fetch_add(1);
        if (re.Search(accented.c_str())) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
}
