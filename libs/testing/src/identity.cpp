#include "ticketing/testing/identity.hpp"

#include <chrono>
#include <stdexcept>

#include <rapidjson/document.h>

#include "ticketing/http/client.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ticketing::testing {

std::string id_token(std::int64_t user_id) {
  // One client: building one loads the TLS trust store.
  static http::Client client;
  http::ClientRequest req;
  req.method = "POST";
  req.url = idp_url() + "/v1/id-tokens";
  req.body = R"({"userId":)" + std::to_string(user_id) + "}";
  req.headers.emplace_back("Content-Type", "application/json");
  req.total_timeout = std::chrono::seconds(10);
  auto r = client.send(req);
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (r.status != 200 || d.HasParseError() || !d.IsObject() || !d.HasMember("idToken") ||
      !d["idToken"].IsString())
    throw std::runtime_error("dev-idp at " + idp_url() + " answered " + std::to_string(r.status) +
                             ": " + r.body);
  return d["idToken"].GetString();
}

}  // namespace ticketing::testing
