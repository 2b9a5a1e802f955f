#pragma once
// Waiting that a shutdown can cut short.

#include <atomic>
#include <chrono>
#include <stop_token>

namespace ticketing {

// Sleeps for `total` in slices of `slice`, or less once `stop` is true (it is
// read between slices). True when the whole time passed, false when stopped.
bool sleep_unless_stopped(const std::atomic<bool>& stop, std::chrono::milliseconds total,
                          std::chrono::milliseconds slice = std::chrono::milliseconds(100));

// Sleeps for `total`, or returns as soon as a stop is requested (no polling
// slices: the request wakes the sleeper). True when the whole time passed.
bool sleep_unless_stopped(const std::stop_token& stop, std::chrono::milliseconds total);

}  // namespace ticketing
