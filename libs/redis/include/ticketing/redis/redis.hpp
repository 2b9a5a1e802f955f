#pragma once
// Convenience header: the whole Redis client library.

#include "ticketing/redis/client.hpp"
#include "ticketing/redis/options.hpp"
#include "ticketing/redis/pool.hpp"
#include "ticketing/redis/reply.hpp"
