#pragma once
// Waiting that a shutdown can cut short.

#include <chrono>
#include <stop_token>

namespace ticketing {

// Sleeps for `total`, or returns as soon as a stop is requested (no polling
// slices: the request wakes the sleeper). True when the whole time passed.
bool sleep_unless_stopped(const std::stop_token& stop, std::chrono::milliseconds total);

}  // namespace ticketing
