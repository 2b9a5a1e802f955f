#pragma once

#include <string_view>
#include <vector>

#include "ticketing/db/migrate.hpp"

namespace ticketing::db {
class Pool;
}

namespace ticketing::reservation {

// The versioned migrations of the `reservation` schema (applied at start and
// by `reservation-api migrate`).
std::vector<db::Migration> migrations();

// Creates the database if needed and applies what is missing; returns how
// many migrations ran. Throws DbError.
int migrate(db::Pool& pool, std::string_view database);

// Loads the demo catalogue (4 concerts x 3 dates x 50 seats) unless it is
// already there; returns the number of schedules created. Idempotent.
int seed_demo_catalogue(db::Pool& pool);

}  // namespace ticketing::reservation
