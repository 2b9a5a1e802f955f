// At-least-once across a crash, with a real second process (posix_spawn):
// a record handled but not stored is delivered again to the group; a record
// stored and auto-committed is not.

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <sstream>
#include <string>
#include <vector>

#include "kafka_fixture.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/testing/stack_env.hpp"

extern char** environ;

namespace ev = ticketing::events;
using namespace std::chrono_literals;

namespace {

// A spawned probe with its stdout on a pipe; killed and reaped on destruction.
class Probe {
 public:
  explicit Probe(const std::vector<std::string>& args) {
    std::array<int, 2> fds{};
    REQUIRE(::pipe(fds.data()) == 0);
    read_fd_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    REQUIRE(rc == 0);
  }
  ~Probe() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (read_fd_ >= 0) ::close(read_fd_);
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // One line of stdout, or "" on timeout / EOF.
  std::string read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string line;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd pfd{read_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return {};
      char c = 0;
      if (::read(read_fd_, &c, 1) != 1) return {};
      if (c == '\n') return line;
      line += c;
    }
  }

  // Exit status as waitpid reports it.
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
};

// First record a new member of `group` gets from partition 0.
std::optional<std::int64_t> first_offset_for_group(const std::string& group,
                                                   const std::string& topic) {
  ev::Consumer c(evtest::consumer_options(group, {topic}));
  const auto t0 = std::chrono::steady_clock::now();
  // the dead member holds its partitions until its 6 s session times out
  while (evtest::seconds_since(t0) < 60) {
    if (auto m = c.poll(200ms)) {
      if (m->partition == 0) {
        c.close();
        return m->offset;
      }
    }
  }
  c.close();
  return std::nullopt;
}

}  // namespace

TEST_CASE("at-least-once across a consumer crash", "[crash]") {
  const std::string topic = ticketing::testing::unique_name("it_crash");
  evtest::TempTopics topics({topic});
  {
    ev::Producer producer(evtest::producer_options("it-crash-producer"));
    for (int i = 1; i <= 3; ++i) {
      ev::Record r = ev::make_event_record(evtest::payment_completed(i, 21), "21", topic);
      r.partition = 0;
      const auto rep = producer.produce(std::move(r)).get();
      REQUIRE(rep.ok);
      REQUIRE(rep.offset == i - 1);
    }
  }

  SECTION("mode A: killed after handling, before storing -> the record comes again") {
    const std::string group = ticketing::testing::unique_name("it_crash_a");
    Probe probe({TICKETING_CONSUMER_PROBE, "A", evtest::bootstrap(), topic, group});
    const std::string line = probe.read_line(90s);
    REQUIRE(line == "handled 0 0");
    const int status = probe.wait();
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(first_offset_for_group(group, topic) == std::optional<std::int64_t>(0));
    INFO("redelivery took " << evtest::seconds_since(t0) << " s");
  }

  SECTION("mode B: stored and auto-committed before the kill -> not delivered again") {
    const std::string group = ticketing::testing::unique_name("it_crash_b");
    Probe probe({TICKETING_CONSUMER_PROBE, "B", evtest::bootstrap(), topic, group});
    const std::string line = probe.read_line(90s);
    REQUIRE(line == "stored 0 0");
    const int status = probe.wait();
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(first_offset_for_group(group, topic) == std::optional<std::int64_t>(1));
  }
}
