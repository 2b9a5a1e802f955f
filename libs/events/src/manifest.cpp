// The topic manifest (deploy/topics.manifest): parsing it, and checking a
// cluster's topics against it. No cluster access here.
#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

#include "admin_request.hpp"
#include "ticketing/events/admin.hpp"

namespace ticketing::events {

using namespace detail;

std::optional<std::string> TopicSpec::config(std::string_view key) const {
  for (const auto& [k, v] : configs) {
    if (k == key) return v;
  }
  return std::nullopt;
}

const TopicSpec* Manifest::find(std::string_view name) const {
  for (const auto& t : topics) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Manifest parse_manifest(std::string_view text) {
  Manifest m;
  std::vector<std::string> problems;
  std::set<std::string, std::less<>> names;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::vector<std::string> tok;
    for (std::string t; fields >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    const std::string where = "line " + std::to_string(lineno) + ": ";
    if (tok.size() < 3) {
      problems.push_back(where + "expected <name> <partitions> <replication-factor> [k=v ...]");
      continue;
    }
    TopicSpec spec;
    spec.name = tok[0];
    bool ok = true;
    if (!valid_topic_name(spec.name)) {
      problems.push_back(where + "invalid topic name '" + spec.name + "'");
      ok = false;
    }
    if (auto p = parse_positive(tok[1], 100000)) {
      spec.partitions = *p;
    } else {
      problems.push_back(where + "invalid partition count '" + tok[1] + "'");
      ok = false;
    }
    if (auto rf = parse_positive(tok[2], 32767)) {
      spec.replication_factor = *rf;
    } else {
      problems.push_back(where + "invalid replication factor '" + tok[2] + "'");
      ok = false;
    }
    for (std::size_t i = 3; i < tok.size(); ++i) {
      const auto eq = tok[i].find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == tok[i].size()) {
        problems.push_back(where + "expected <config>=<value>, got '" + tok[i] + "'");
        ok = false;
        continue;
      }
      spec.configs.emplace_back(tok[i].substr(0, eq), tok[i].substr(eq + 1));
    }
    if (ok && !names.insert(spec.name).second) {
      problems.push_back(where + "topic '" + spec.name + "' listed twice");
      ok = false;
    }
    if (ok) m.topics.push_back(std::move(spec));
  }
  if (!problems.empty()) {
    std::string msg = "invalid topic manifest:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw std::invalid_argument(msg);
  }
  return m;
}

Manifest load_manifest(const std::string& path) {
  return load_file(path, "topic manifest", parse_manifest);
}

ManifestCheck check_manifest(const ClusterInfo& cluster, const Manifest& manifest) {
  ManifestCheck out;
  for (const auto& spec : manifest.topics) {
    const TopicInfo* t = cluster.find(spec.name);
    if (t == nullptr || t->partitions.empty()) {
      out.errors.push_back(
          spec.name + ": missing" +
          (t != nullptr && !t->error.empty() ? " (" + t->error + ")" : std::string()));
      continue;
    }
    if (static_cast<int>(t->partitions.size()) < spec.partitions) {
      out.errors.push_back(spec.name + ": " + std::to_string(t->partitions.size()) +
                           " partitions, manifest wants " + std::to_string(spec.partitions));
    }
    if (t->replication_factor < 3 || t->replication_factor < spec.replication_factor) {
      out.errors.push_back(
          spec.name + ": replication factor " + std::to_string(t->replication_factor) +
          " (needs >= " + std::to_string(std::max(3, spec.replication_factor)) + ")");
    }
    int want_min_isr = 2;
    if (auto v = spec.config("min.insync.replicas")) {
      if (auto n = parse_positive(*v, 1000)) want_min_isr = *n;
    }
    if (!t->min_insync_replicas) {
      out.errors.push_back(spec.name + ": min.insync.replicas unknown");
    } else if (*t->min_insync_replicas != 2 || *t->min_insync_replicas != want_min_isr) {
      out.errors.push_back(spec.name + ": min.insync.replicas=" +
                           std::to_string(*t->min_insync_replicas) + " (needs 2)");
    }
    for (const auto& p : t->partitions) {
      if (p.leader < 0) {
        out.warnings.push_back(spec.name + "[" + std::to_string(p.id) + "]: no leader");
      } else if (p.isr.size() < p.replicas.size()) {
        out.warnings.push_back(spec.name + "[" + std::to_string(p.id) + "]: ISR " +
                               std::to_string(p.isr.size()) + "/" +
                               std::to_string(p.replicas.size()));
      }
    }
  }
  return out;
}

}  // namespace ticketing::events
