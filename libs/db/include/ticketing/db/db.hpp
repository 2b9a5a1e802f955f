#pragma once
// Convenience header: the whole MariaDB client library.

#include "ticketing/db/connection.hpp"
#include "ticketing/db/errors.hpp"
#include "ticketing/db/locks.hpp"
#include "ticketing/db/migrate.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/db/pool.hpp"
#include "ticketing/db/value.hpp"
