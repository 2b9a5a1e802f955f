#include "load_balancer.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "support.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace tt = ticketing::testing;
using namespace std::chrono_literals;

namespace e2e {

namespace {

std::string config(const std::map<std::string, std::vector<LoadBalancer::Server>>& apis,
                   const std::map<std::string, unsigned short>& ports, unsigned short stats_port) {
  // The settings stack.sh uses too.
  std::ifstream defaults(TICKETING_HAPROXY_DEFAULTS);
  if (!defaults) throw std::runtime_error("cannot read " + std::string(TICKETING_HAPROXY_DEFAULTS));
  std::string c((std::istreambuf_iterator<char>(defaults)), std::istreambuf_iterator<char>());
  c += fmt::format("frontend stats\n  bind 127.0.0.1:{}\n  stats enable\n  stats uri /stats\n",
                   stats_port);
  for (const auto& [api, servers] : apis) {
    c += fmt::format("frontend {0}\n  bind 127.0.0.1:{1}\n  default_backend {0}\n", api,
                     ports.at(api));
    c += fmt::format(
        "backend {}\n  balance roundrobin\n  option httpchk GET /health/ready\n"
        "  default-server inter 500ms fall 2 rise 2\n",
        api);
    for (const auto& s : servers)
      c += fmt::format("  server {} 127.0.0.1:{} check port {}\n", s.name, s.http_port,
                       s.admin_port);
  }
  return c;
}

}  // namespace

LoadBalancer::LoadBalancer(const std::map<std::string, std::vector<Server>>& apis) {
  for (const auto& [api, servers] : apis) ports_[api] = tt::free_port();
  stats_port_ = tt::free_port();
  config_path_ = tt::build_path("tests/e2e/" + tt::unique_name("haproxy") + ".cfg");
  std::ofstream(config_path_) << config(apis, ports_, stats_port_);
  proc_ = std::make_unique<tt::ChildProcess>(
      "/usr/sbin/haproxy", std::vector<std::string>{"-db", "-f", config_path_},
      std::map<std::string, std::string>{}, tt::build_path("tests/e2e/haproxy.log"));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    bool up = tt::port_open(stats_port_);
    for (const auto& [api, port] : ports_) up = up && tt::port_open(port);
    if (up) break;
    if (!proc_->running() || std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("haproxy did not start: " + proc_->log());
    std::this_thread::sleep_for(50ms);
  }
}

LoadBalancer::~LoadBalancer() {
  if (proc_ && proc_->running()) {
    proc_->signal(SIGTERM);
    proc_->wait(5s);
  }
  std::remove(config_path_.c_str());
}

std::string LoadBalancer::url(const std::string& api) const {
  return "http://127.0.0.1:" + std::to_string(ports_.at(api));
}

std::map<std::string, std::string> LoadBalancer::server_status() const {
  // CSV: # pxname,svname,...; "status" is the 18th column.
  auto r = call(stats_port_, "GET", "/stats;csv");
  std::map<std::string, std::string> out;
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) cols.push_back(cell);
    if (cols.size() > 17 && cols[1] != "FRONTEND" && cols[1] != "BACKEND") out[cols[1]] = cols[17];
  }
  return out;
}

}  // namespace e2e
