#include "ticketing/common/stop.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ticketing {

bool sleep_unless_stopped(const std::atomic<bool>& stop, std::chrono::milliseconds total,
                          std::chrono::milliseconds slice) {
  const auto end = std::chrono::steady_clock::now() + total;
  for (;;) {
    if (stop.load()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(slice, end - now));
  }
}

bool sleep_unless_stopped(const std::stop_token& stop, std::chrono::milliseconds total) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  // The stop token's overload registers a callback that wakes this wait.
  cv.wait_for(lock, stop, total, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace ticketing
