#include "app.hpp"

int main() {
  return ticketing::service::run_service(ticketing::scheduler::spec(),
                                         ticketing::scheduler::configure);
}
