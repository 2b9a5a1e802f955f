// `ticketing-admin dlq list | show | replay` run as a process against the real
// cluster, on throwaway topics it.dlqtool_<run> and it.dlqtool_<run>.dlq (and
// a manifest naming only those), deleted at the end.
//
// Dead letters written (make_dead_letter, explicit partitions):
//   p0: o0 k1 poison, o1 k2 db error, o2 k3 poison, o3 k1 http 400, o4 k4 poison
//   p1: o0 k5 without dlq-original-topic, o1 k1 db error
//   p2: o0..o5 k6..k11 db error (for the rate)
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ticketing/common/log.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/dlq_replay.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/testing/process.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace ev = ticketing::events;
namespace tt = ticketing::testing;

namespace {

struct Topics {
  std::string original;
  std::string dlq;
  std::string manifest_path;

  explicit Topics(const std::string& run)
      : original("it.dlqtool_" + run),
        dlq(original + ".dlq"),
        manifest_path(tt::build_path("tests/tools/dlq-" + run + ".manifest")) {
    const std::string text =
        original + " 3 3 min.insync.replicas=2\n" + dlq + " 3 3 min.insync.replicas=2\n";
    std::ofstream(manifest_path) << text;
    REQUIRE(ev::wait_for_brokers(tt::kafka_bootstrap(), 3, 60s) >= 3);
    for (const auto& r : ev::create_topics(tt::kafka_bootstrap(), ev::parse_manifest(text), 60s)) {
      INFO(r.topic << ": " << ev::to_string(r.status) << " " << r.detail);
      REQUIRE(r.status == ev::TopicStatus::kCreated);
    }
  }
  ~Topics() {
    std::remove(manifest_path.c_str());
    try {
      (void)ev::delete_topics(tt::kafka_bootstrap(), {original, dlq}, 30s);
    } catch (const std::exception& e) {
      ticketing::log::warn("could not delete test topics", {{"error", e.what()}});
    }
  }
  Topics(const Topics&) = delete;
  Topics& operator=(const Topics&) = delete;
};

struct DeadLetter {
  std::int32_t partition;
  std::string key;
  std::string error;
  bool with_original_topic = true;
  std::string event_id{};  // filled when written
  std::string value{};
};

struct Run {
  std::optional<int> code;
  std::string out;
  double seconds = 0;
  std::vector<rapidjson::Document> json;  // output lines that are JSON objects with `field`
};

Run admin(const std::string& name, std::vector<std::string> args, const std::string& field) {
  const auto started = std::chrono::steady_clock::now();
  tt::ChildProcess p(tt::build_path("tools/admin/ticketing-admin"), std::move(args), {},
                     tt::build_path("tests/tools/dlq-" + name + ".log"));
  Run r;
  r.code = p.wait(90s);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  r.out = p.log();
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size());
    if (!d.HasParseError() && d.IsObject() && d.HasMember(field.c_str()))
      r.json.push_back(std::move(d));
  }
  return r;
}

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength())
                      : std::string("<not a string>");
}

// Every record of a topic, read to its current end.
std::vector<ev::Message> read_all(const std::string& topic) {
  ev::DlqReadOptions o;
  o.bootstrap = tt::kafka_bootstrap();
  o.topic = topic;
  ev::DlqReader reader(o);
  std::vector<ev::Message> out;
  while (auto m = reader.next()) out.push_back(std::move(*m));
  return out;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("ticketing-admin dlq: list, show, replay (dry run, range, resume, rate, skip)",
          "[dlq-admin]") {
  const std::string run = tt::unique_name("r").substr(2);
  Topics topics(run);
  const std::string bootstrap = tt::kafka_bootstrap();

  std::vector<DeadLetter> letters = {
      {0, "k1", "poison: schema payment.completed v1: /data/amount: not an integer"},
      {0, "k2", "db: connection refused"},
      {0, "k3", "poison: schema payment.completed v1: /data/userId: missing"},
      {0, "k4", "http 400: rejected"},
      {0, "k1", "poison: not JSON: unexpected end"},
      {1, "k5", "db: lock wait timeout", false},
      {1, "k1", "db: connection refused"},
  };
  for (int i = 0; i < 6; ++i) letters.push_back({2, "k" + std::to_string(6 + i), "db: deadlock"});
  {
    ev::ProducerOptions po;
    po.bootstrap_servers = bootstrap;
    po.client_id = "dlq-admin-test";
    ev::Producer producer(po);
    std::int64_t original_offset = 100;
    for (auto& l : letters) {
      const ev::Envelope e =
          ev::Envelope::make("payment.completed", "payment-api",
                             R"({"paymentId":)" + std::to_string(original_offset) + "}");
      l.event_id = e.event_id;
      l.value = ev::to_json(e);
      ev::Message original;
      original.topic = topics.original;
      original.partition = 2;
      original.offset = original_offset++;
      original.key = l.key;
      original.has_key = true;
      original.value = l.value;
      original.headers = {{"traceparent", ev::make_traceparent(e.trace_id)}};
      ev::Record r = ev::make_dead_letter(original, l.error, 5, "dlq-admin-test", topics.dlq);
      if (!l.with_original_topic) {
        std::erase_if(r.headers,
                      [](const ev::Header& h) { return h.key == ev::dlq_header::kOriginalTopic; });
      }
      r.partition = l.partition;
      const ev::DeliveryReport rep = producer.produce(std::move(r)).get();
      REQUIRE(rep.ok);
    }
  }
  auto letter_at = [&](std::int32_t partition, std::int64_t offset) -> const DeadLetter& {
    std::int64_t n = 0;
    for (const auto& l : letters) {
      if (l.partition != partition) continue;
      if (n++ == offset) return l;
    }
    FAIL("no dead letter at " << partition << "/" << offset);
    return letters.front();
  };

  SECTION("list counts by original topic and by error class") {
    Run r =
        admin("list-" + run,
              {"dlq", "list", "--bootstrap", bootstrap, "--manifest", topics.manifest_path}, "-");
    INFO(r.out);
    REQUIRE(r.code == std::optional<int>(0));
    auto counted = [&](int n, const std::string& label) {
      return r.out.find(" " + std::to_string(n) + "  " + label + "\n") != std::string::npos;
    };
    CHECK(r.out.find(topics.dlq + ": 13 records\n") != std::string::npos);
    CHECK(counted(12, topics.original));
    CHECK(counted(1, "(no dlq-original-topic)"));
    CHECK(counted(9, "db"));  // classes end at the first ':'
    CHECK(counted(2, "poison: schema payment.completed v1"));
    CHECK(counted(1, "poison: not JSON"));
    CHECK(counted(1, "http 400"));
    // The manifest's data topic is no DLQ: not listed.
    CHECK(r.out.find(topics.original + ": ") == std::string::npos);
  }

  SECTION("show by key and by offset range prints exactly those records with their headers") {
    Run by_key =
        admin("show-key-" + run,
              {"dlq", "show", topics.dlq, "--bootstrap", bootstrap, "--key", "k1"}, "offset");
    INFO(by_key.out);
    REQUIRE(by_key.code == std::optional<int>(0));
    std::map<std::pair<int, std::int64_t>, const rapidjson::Document*> shown;
    for (const auto& d : by_key.json) shown[{d["partition"].GetInt(), d["offset"].GetInt64()}] = &d;
    const std::map<std::pair<int, std::int64_t>, int> want = {
        {{0, 0}, 0}, {{0, 4}, 0}, {{1, 1}, 0}};
    REQUIRE(shown.size() == 3);
    for (const auto& [where, unused] : want) {
      (void)unused;
      REQUIRE(shown.count(where) == 1);
      const rapidjson::Document& d = *shown.at(where);
      const DeadLetter& l = letter_at(where.first, where.second);
      CHECK(str(d["topic"]) == topics.dlq);
      CHECK(str(d["key"]) == "k1");
      CHECK(str(d["value"]) == l.value);
      const auto& h = d["headers"];
      CHECK(str(h["dlq-original-topic"]) == topics.original);
      CHECK(str(h["dlq-error"]) == l.error);
      CHECK(str(h["dlq-attempts"]) == "5");
      CHECK(str(h["dlq-consumer-group"]) == "dlq-admin-test");
      CHECK(h.HasMember("traceparent"));
      CHECK(d["timestamp"].IsString());
    }

    Run range = admin("show-range-" + run,
                      {"dlq", "show", topics.dlq, "--bootstrap", bootstrap, "--partition", "0",
                       "--from-offset", "1", "--to-offset", "2"},
                      "offset");
    INFO(range.out);
    REQUIRE(range.code == std::optional<int>(0));
    REQUIRE(range.json.size() == 2);
    CHECK(range.json[0]["offset"].GetInt64() == 1);
    CHECK(str(range.json[0]["key"]) == "k2");
    CHECK(range.json[1]["offset"].GetInt64() == 2);
    CHECK(str(range.json[1]["key"]) == "k3");
    CHECK(str(range.json[1]["headers"]["dlq-original-offset"]) == "102");
  }

  SECTION("replay: dry run, offset range, resume, rate, a record without origin") {
    const std::vector<std::string> range = {"--partition", "0",           "--from-offset",
                                            "1",           "--to-offset", "3"};
    auto replay = [&](const std::string& name, std::vector<std::string> extra) {
      std::vector<std::string> args = {"dlq", "replay", topics.dlq, "--bootstrap", bootstrap};
      args.insert(args.end(), extra.begin(), extra.end());
      return admin(name + "-" + run, args, "action");
    };

    Run dry = replay("replay-dry", [&] {
      auto a = range;
      a.push_back("--dry-run");
      return a;
    }());
    INFO(dry.out);
    REQUIRE(dry.code == std::optional<int>(0));
    CHECK(count_of(dry.out, R"("action":"would-replay")") == 3);
    CHECK(dry.out.find(R"("replayed":0)") != std::string::npos);
    CHECK(read_all(topics.original).empty());  // nothing produced

    Run first = replay("replay-1", [&] {
      auto a = range;
      a.insert(a.end(), {"--rate", "2"});
      return a;
    }());
    INFO(first.out);
    REQUIRE(first.code == std::optional<int>(0));
    CHECK(count_of(first.out, R"("action":"replayed")") == 3);
    CHECK(first.seconds >= 1.0);  // 3 records at 2/s: the third not before 1 s
    std::vector<ev::Message> produced = read_all(topics.original);
    REQUIRE(produced.size() == 3);
    std::map<std::string, const ev::Message*> by_from;
    for (const auto& m : produced) {
      const std::string* from = m.header(ev::kReplayedFromHeader);
      REQUIRE(from != nullptr);
      by_from[*from] = &m;
      for (const auto& h : m.headers)
        CHECK((!h.key.starts_with("dlq-") || h.key == ev::kReplayedFromHeader));
    }
    for (std::int64_t off = 1; off <= 3; ++off) {
      const std::string from = topics.dlq + "/0/" + std::to_string(off);
      REQUIRE(by_from.count(from) == 1);
      const ev::Message& m = *by_from.at(from);
      const DeadLetter& l = letter_at(0, off);
      CHECK(m.key == l.key);
      CHECK(m.value == l.value);
      CHECK(ev::parse_envelope(m.value).event_id == l.event_id);
      REQUIRE(m.header("traceparent") != nullptr);
    }

    // Resumable: the same selection again replays nothing new.
    Run again = replay("replay-2", range);
    INFO(again.out);
    REQUIRE(again.code == std::optional<int>(0));
    CHECK(count_of(again.out, R"("action":"replayed")") == 0);
    CHECK(again.out.find(R"("replayed":0)") != std::string::npos);
    CHECK(read_all(topics.original).size() == 3);

    // Rate: 6 records at 5/s take at least 1 s; all 6 land.
    Run rated = replay("replay-rate", {"--partition", "2", "--rate", "5"});
    INFO(rated.out);
    REQUIRE(rated.code == std::optional<int>(0));
    CHECK(count_of(rated.out, R"("action":"replayed")") == 6);
    CHECK(rated.seconds >= 1.0);
    CHECK(read_all(topics.original).size() == 9);

    // A record without dlq-original-topic is skipped and the run exits 1; the other goes.
    Run skip = replay("replay-skip", {"--partition", "1"});
    INFO(skip.out);
    CHECK(skip.code == std::optional<int>(1));
    CHECK(count_of(skip.out, R"("action":"skipped")") == 1);
    CHECK(count_of(skip.out, R"("action":"replayed")") == 1);
    CHECK(skip.out.find(R"("skipped":1)") != std::string::npos);
    const auto all = read_all(topics.original);
    CHECK(all.size() == 10);
    std::size_t from_p1 = 0;
    for (const auto& m : all) {
      const std::string* from = m.header(ev::kReplayedFromHeader);
      if (from != nullptr && from->starts_with(topics.dlq + "/1/")) {
        ++from_p1;
        CHECK(*from == topics.dlq + "/1/1");
        CHECK(m.key == "k1");
      }
    }
    CHECK(from_p1 == 1);

    // Each selection has its own default group: the records the range replay
    // passed over (p0/0, p0/4) are not hidden from a replay of the whole partition.
    Run whole = replay("replay-p0", {"--partition", "0"});
    INFO(whole.out);
    REQUIRE(whole.code == std::optional<int>(0));
    CHECK(count_of(whole.out, R"("action":"replayed")") == 5);
    CHECK(whole.out.find(R"("group":"ticketing-admin.dlq-replay.)" + topics.dlq + ".sel-") !=
          std::string::npos);
    CHECK(read_all(topics.original).size() == 15);
  }

  SECTION("usage errors are listed at once, exit 2; an unknown topic exits 2") {
    Run bad = admin("usage-" + run,
                    {"dlq", "replay", topics.dlq, "--bootstrap", bootstrap, "--from-offset", "5",
                     "--to-offset", "2", "--since", "2026-01-01T00:00:00Z", "--rate", "0"},
                    "-");
    INFO(bad.out);
    CHECK(bad.code == std::optional<int>(2));
    CHECK(bad.out.find("--from-offset 5 is after --to-offset 2") != std::string::npos);
    CHECK(bad.out.find("not both") != std::string::npos);
    CHECK(bad.out.find("--rate needs an integer >= 1") != std::string::npos);
    Run unknown = admin("unknown-" + run,
                        {"dlq", "show", topics.dlq + ".nope", "--bootstrap", bootstrap}, "-");
    INFO(unknown.out);
    CHECK(unknown.code == std::optional<int>(2));
    CHECK(unknown.out.find("no topic") != std::string::npos);
  }
}
