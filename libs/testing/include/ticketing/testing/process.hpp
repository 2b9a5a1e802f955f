#pragma once

#include <sys/types.h>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ticketing::testing {

// A child process for black-box tests: started with posix_spawn, its stdout
// and stderr appended to a log file, killed (SIGKILL) on destruction if still
// running.
class ChildProcess {
 public:
  // `env` entries are added to (and override) the test's own environment.
  ChildProcess(std::string path, std::vector<std::string> args,
               std::map<std::string, std::string> env, std::string log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Exit code (or 128 + signal) once it ended within the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();
  [[nodiscard]] std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_file_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
unsigned short free_port();

// Path of a built binary, from the directory ctest passes in
// TICKETING_BUILD_DIR (set by the test's CMake).
std::string build_path(const std::string& relative);

// True while something accepts TCP connections on 127.0.0.1:port.
bool port_open(unsigned short port);

// tools/fake-peer (the fake data platform / webhook of the tests) on two free
// ports, started and accepting connections; killed on destruction. Throws
// std::runtime_error (with its log) when it is not up within 5 s.
class FakePeerProcess {
 public:
  // `log_relative`: the log file, relative to the build directory.
  explicit FakePeerProcess(const std::string& log_relative);

  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] unsigned short control_port() const { return control_; }
  [[nodiscard]] std::string url(const std::string& path = {}) const;
  [[nodiscard]] std::string control_url(const std::string& path = {}) const;
  [[nodiscard]] std::string log() const { return proc_.log(); }

 private:
  unsigned short port_;
  unsigned short control_;
  ChildProcess proc_;
};

}  // namespace ticketing::testing
