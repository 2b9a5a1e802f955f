#include <cstdio>
#include <string>

#include "app.hpp"

// `reservation-api` serves; `reservation-api migrate|seed` are one-shot commands.
int main(int argc, char** argv) {
  if (argc > 1) {
    std::string command = argv[1];
    if (command == "migrate" || command == "seed")
      return ticketing::reservation::run_command(command);
    std::fprintf(stderr, "usage: reservation-api [migrate|seed]\n");
    return 2;
  }
  return ticketing::service::run_service(ticketing::reservation::spec(),
                                         ticketing::reservation::configure);
}
