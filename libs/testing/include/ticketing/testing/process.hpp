#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
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

}  // namespace ticketing::testing
