#include <string_view>

#include "app.hpp"
#include "events/replay.hpp"
#include "ticketing/service/runtime.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "replay") {
    return ticketing::service::guarded_main(
        "dataplatform-relay-replay", [&] { return ticketing::relay::run_replay(argc, argv); });
  }
  return ticketing::service::run_service(ticketing::relay::spec(), ticketing::relay::configure);
}
