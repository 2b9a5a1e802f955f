#include "app.hpp"

int main() { return ticketing::service::run_service(ticketing::relay::spec(), ticketing::relay::configure); }
