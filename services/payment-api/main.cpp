#include "app.hpp"

int main() {
  return ticketing::service::run_service(ticketing::payment::spec(), ticketing::payment::configure);
}
