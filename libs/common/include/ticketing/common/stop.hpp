#pragma once
// Waiting that a shutdown can cut short.

#include <atomic>
#include <chrono>

namespace ticketing {

// Sleeps for `total` in slices of `slice`, or less once `stop` is true (it is
// read between slices). True when the whole time passed, false when stopped.
bool sleep_unless_stopped(const std::atomic<bool>& stop, std::chrono::milliseconds total,
                          std::chrono::milliseconds slice = std::chrono::milliseconds(100));

}  // namespace ticketing
