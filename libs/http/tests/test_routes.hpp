#pragma once

// Routes shared by the server and client tests.

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::http::test {

inline Router test_router() {
  Router r;
  r.add("GET", "/v1/items/{id}", [](const Request& req) {
    JsonWriter w;
    w.start_object()
        .key("id")
        .string(req.params.at("id"))
        .key("q")
        .string(req.query_param("q").value_or(""))
        .key("test")
        .string(std::string(req.header("x-test").value_or("")))
        .key("remote")
        .string(req.remote_address)
        .end_object();
    return Response::json(200, w.str());
  });
  r.add("POST", "/v1/echo", [](const Request& req) {
    auto res = Response::text(201, req.body,
                              std::string(req.header("content-type").value_or("text/plain")));
    res.headers.emplace_back("X-Body-Size", std::to_string(req.body.size()));
    return res;
  });
  r.add("POST", "/v1/reservations", [](const Request& req) {
    auto parsed = JsonBody::parse(req);
    if (auto* err = std::get_if<Response>(&parsed)) return *err;
    auto& body = std::get<JsonBody>(parsed);
    auto schedule = body.int64("scheduleId", 1, 1'000'000'000);
    auto seat = body.int64("seatNo", 1, 50);
    std::optional<std::string> note;
    if (body.has("note")) note = body.string("note", 10);
    if (auto err = body.error()) return *err;
    JsonWriter w;
    w.start_object().key("scheduleId").integer(*schedule).key("seatNo").integer(*seat);
    if (note) w.key("note").string(*note);
    w.end_object();
    return Response::json(201, w.str());
  });
  r.add("GET", "/slow", [](const Request&) {
    std::this_thread::sleep_for(500ms);
    return Response::text(200, "slow");
  });
  r.add("GET", "/fast", [](const Request&) { return Response::text(200, "fast"); });
  r.add("GET", "/infra",
        [](const Request&) -> Response { throw ticketing::DbError("connection refused", true); });
  r.add("GET", "/boom",
        [](const Request&) -> Response { throw std::runtime_error("bug in handler"); });
  r.add("GET", "/status/{code}", [](const Request& req) {
    auto res = Response::text(std::stoi(req.params.at("code")), "status " + req.params.at("code"));
    res.headers.emplace_back("X-Custom", "yes");
    res.headers.emplace_back("X-Bad", "a\r\nInjected: 1");
    return res;
  });
  r.add("GET", "/big",
        [](const Request&) { return Response::text(200, std::string(2 * 1024 * 1024, 'b')); });
  return r;
}

}  // namespace ticketing::http::test
