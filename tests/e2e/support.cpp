#include "support.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

#include "ticketing/testing/stack_env.hpp"

namespace tt = ticketing::testing;
using namespace std::chrono_literals;

namespace e2e {

Isolation::Isolation(const std::string& stem) : name(tt::unique_name(stem)) {
  for (auto& c : name)
    if (c == '-' || c == '.') c = '_';
}

namespace {

std::map<std::string, std::string> with_stack(std::map<std::string, std::string> env) {
  auto full = tt::id_token_env();
  full.insert({{"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
               {"MYSQL_URL", tt::mysql_url()},
               {"REDIS_URL", tt::redis_url()},
               {"TOKEN_SECRET", "e2e-system-test-secret-0123456789abcdef"},
               // A new group starts at the log end: the shared
               // topics' history belongs to other runs.
               {"KAFKA_AUTO_OFFSET_RESET", "latest"},
               // The rush stands behind a proxy on loopback: each buyer's own address
               // comes in X-Forwarded-For, as behind a real load balancer.
               {"TRUSTED_PROXIES", "127.0.0.1"}});
  for (auto& [k, v] : env) full[k] = v;
  return full;
}

std::string binary(const std::string& service) {
  return tt::build_path("services/" + service + "/" + service);
}

}  // namespace

ServiceProcess::ServiceProcess(const std::string& service, const std::string& instance,
                               std::map<std::string, std::string> env)
    : service_(service),
      instance_(instance),
      http_port_(tt::free_port()),
      admin_port_(tt::free_port()) {
  env["HTTP_PORT"] = std::to_string(http_port_);
  env["ADMIN_PORT"] = std::to_string(admin_port_);
  env_ = with_stack(std::move(env));
  spawn();
}

void ServiceProcess::spawn() {
  proc_ = std::make_unique<tt::ChildProcess>(binary(service_), std::vector<std::string>{}, env_,
                                             tt::build_path("tests/e2e/" + instance_ + ".log"));
}

void ServiceProcess::restart() {
  restarted_ = true;
  if (proc_->running()) {
    proc_->signal(SIGKILL);
    proc_->wait(10s);
  }
  spawn();
}

void ServiceProcess::wait_ready(std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (call(admin_port_, "GET", "/health/ready").status == 200 &&
          proc_->log().find(R"("msg":"partitions assigned")") != std::string::npos) {
        // "latest" is resolved when fetching starts, just after the assignment.
        std::this_thread::sleep_for(1s);
        return;
      }
    } catch (const std::exception&) {
    }
    if (!proc_->running()) {
      // free_port() only says a port was free a moment ago: another process
      // may have bound it since. A first start then gets new ports (a
      // restart keeps its own: callers know them).
      if (!restarted_ && rebinds_ < 3 &&
          proc_->log().find("Address already in use") != std::string::npos) {
        ++rebinds_;
        http_port_ = tt::free_port();
        admin_port_ = tt::free_port();
        env_["HTTP_PORT"] = std::to_string(http_port_);
        env_["ADMIN_PORT"] = std::to_string(admin_port_);
        spawn();
        continue;
      }
      throw std::runtime_error("service exited at start: " + proc_->log());
    }
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("service not ready in time: " + proc_->log());
}

double ServiceProcess::metric(const std::string& name) {
  auto text = call(admin_port_, "GET", "/metrics").body;
  double sum = 0;
  bool found = false;
  std::size_t pos = 0;
  while ((pos = text.find(name, pos)) != std::string::npos) {
    bool line_start = pos == 0 || text[pos - 1] == '\n';
    auto after = pos + name.size();
    if (line_start && after < text.size() && (text[after] == ' ' || text[after] == '{')) {
      auto space = text.find(' ', text[after] == '{' ? text.find('}', after) : after);
      sum += std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
      found = true;
    }
    pos = after;
  }
  return found ? sum : -1;
}

void run_command(const std::string& service, const std::string& command,
                 std::map<std::string, std::string> env) {
  tt::ChildProcess proc(binary(service), {command}, with_stack(std::move(env)),
                        tt::build_path("tests/e2e/" + service + "-" + command + ".log"));
  auto code = proc.wait(60s);
  if (!code || *code != 0)
    throw std::runtime_error(service + " " + command + " failed: " + proc.log());
}

ticketing::http::ClientResponse call(unsigned short port, const std::string& method,
                                     const std::string& path, const std::string& body,
                                     const std::string& token) {
  // One client per thread: building one is cheap (no TLS for http://).
  thread_local ticketing::http::Client client;
  ticketing::http::ClientRequest req;
  req.method = method;
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  req.body = body;
  req.total_timeout = 20s;
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  return client.send(req);
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  if (d.HasParseError()) throw std::runtime_error("not JSON: " + text);
  return d;
}

}  // namespace e2e
