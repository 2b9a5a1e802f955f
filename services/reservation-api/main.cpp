#include "app.hpp"

int main() { return ticketing::service::run_service(ticketing::reservation::spec(), ticketing::reservation::configure); }
