#include "ticketing/common/stop.hpp"

#include <algorithm>
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

}  // namespace ticketing
