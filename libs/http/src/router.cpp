// Request/Response helpers and the router: plain C++, no Boost.

#include <algorithm>
#include <stdexcept>

#include "ticketing/common/log.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split_path(std::string_view path) {
  // "/a/b" -> {"a","b"}; "/" -> {""}; "/a/" -> {"a",""}. The leading '/' is
  // required by the caller.
  std::vector<std::string_view> out;
  std::size_t start = 1;
  while (true) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

std::string percent_decode(std::string_view in, bool plus_as_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    if (c == '+' && plus_as_space) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq), true);
    if (key != name) continue;
    return eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  std::string body = R"({"error":{"code":")";
  log::append_json_escaped(body, code);
  body += R"(","message":")";
  log::append_json_escaped(body, message);
  body += "\"}}";
  return json(status, std::move(body));
}

Response Response::dependency_unavailable() {
  auto res = error(503, "DEPENDENCY_UNAVAILABLE", "a dependency is unavailable, retry later");
  res.headers.emplace_back("Retry-After", "1");
  return res;
}

void Router::add(std::string method, std::string pattern, Handler handler) {
  add(std::move(method), std::move(pattern), InlineFirst{{}, std::move(handler)});
}

void Router::add(std::string method, std::string pattern, InlineFirst route_handlers) {
  Route route;
  route.handler = std::move(route_handlers.handler);
  route.fast = std::move(route_handlers.fast);
  add_route(std::move(method), std::move(pattern), std::move(route));
}

void Router::add(std::string method, std::string pattern, Parking parking) {
  Route route;
  route.parking = std::move(parking.handler);
  add_route(std::move(method), std::move(pattern), std::move(route));
}

void Router::add(std::string method, std::string pattern, Handler handler, const Lane& lane) {
  add_lane(lane);
  Route route;
  route.handler = std::move(handler);
  route.lane = lane.name;
  add_route(std::move(method), std::move(pattern), std::move(route));
}

void Router::add(std::string method, std::string pattern, Parking parking, const Lane& lane) {
  add_lane(lane);
  Route route;
  route.parking = std::move(parking.handler);
  route.lane = lane.name;
  add_route(std::move(method), std::move(pattern), std::move(route));
}

void Router::add_lane(const Lane& lane) {
  if (lane.name.empty() || lane.threads < 1)
    throw std::invalid_argument("a lane needs a name and at least one thread");
  auto& threads = lanes_[lane.name];
  threads = std::max(threads, lane.threads);
}

void Router::add_route(std::string method, std::string pattern, Route route) {
  if (method.empty() ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    throw std::invalid_argument("route method must be upper-case letters: '" + method + "'");
  }
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': '" + pattern + "'");
  }
  if (!route.handler && !route.parking)
    throw std::invalid_argument("route " + method + " " + pattern + " has no handler");
  for (auto seg : split_path(pattern)) {
    Segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      s.param = true;
      s.text = std::string(seg.substr(1, seg.size() - 2));
      if (s.text.empty() || !std::all_of(s.text.begin(), s.text.end(), is_token_char)) {
        throw std::invalid_argument("bad parameter name in route pattern '" + pattern + "'");
      }
      for (const auto& other : route.segments) {
        if (other.param && other.text == s.text) {
          throw std::invalid_argument("duplicate parameter in route pattern '" + pattern + "'");
        }
      }
    } else {
      if (seg.find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument("bad segment in route pattern '" + pattern + "'");
      }
      s.text = std::string(seg);
    }
    route.segments.push_back(std::move(s));
  }
  for (const auto& r : routes_) {
    if (r.method != method || r.segments.size() != route.segments.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < r.segments.size() && same; ++i) {
      const auto& a = r.segments[i];
      const auto& b = route.segments[i];
      // Two parameters in the same place match the same paths whatever their names.
      same = a.param == b.param && (a.param || a.text == b.text);
    }
    if (same) throw std::invalid_argument("duplicate route " + method + " " + pattern);
  }
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  routes_.push_back(std::move(route));
}

std::vector<Router::RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.push_back(RouteInfo{r.method, r.pattern});
  return out;
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  if (path.empty() || path.front() != '/') return result;
  std::vector<std::string> segments;
  for (auto seg : split_path(path)) segments.push_back(percent_decode(seg, false));

  const Route* best = nullptr;
  std::vector<std::string_view> allowed;
  // true when a is more specific than b: first differing segment is literal in a.
  auto more_specific = [](const Route& a, const Route& b) {
    for (std::size_t i = 0; i < a.segments.size(); ++i) {
      if (a.segments[i].param != b.segments[i].param) return !a.segments[i].param;
    }
    return false;
  };
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      const auto& s = route.segments[i];
      ok = s.param ? !segments[i].empty() : s.text == segments[i];
    }
    if (!ok) continue;
    if (route.method != method) {
      if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
        allowed.push_back(route.method);
      }
      continue;
    }
    if (best == nullptr || more_specific(route, *best)) best = &route;
  }
  if (best != nullptr) {
    result.kind = RouteMatch::Kind::kFound;
    result.handler = &best->handler;
    if (best->fast) result.fast = &best->fast;
    if (best->parking) result.parking = &best->parking;
    result.lane = best->lane;
    result.pattern = best->pattern;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (best->segments[i].param) result.params[best->segments[i].text] = std::move(segments[i]);
    }
    return result;
  }
  if (!allowed.empty()) {
    std::sort(allowed.begin(), allowed.end());
    result.kind = RouteMatch::Kind::kMethodNotAllowed;
    for (auto m : allowed) {
      if (!result.allow.empty()) result.allow += ", ";
      result.allow += m;
    }
  }
  return result;
}

}  // namespace ticketing::http
