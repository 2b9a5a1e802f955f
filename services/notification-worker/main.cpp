#include "app.hpp"

int main() {
  return ticketing::service::run_service(ticketing::notification::spec(),
                                         ticketing::notification::configure);
}
