#include "ticketing/common/stop.hpp"

#include <condition_variable>
#include <mutex>

namespace ticketing {

bool sleep_unless_stopped(const std::stop_token& stop, std::chrono::milliseconds total) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  // The stop token's overload registers a callback that wakes this wait.
  cv.wait_for(lock, stop, total, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace ticketing
