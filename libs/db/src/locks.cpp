#include "ticketing/db/locks.hpp"

#include <cstdint>

#include <fmt/format.h>

#include "ticketing/db/connection.hpp"

namespace ticketing::db {

namespace {
constexpr std::size_t kMaxLockName = 64;
}

std::string fit_lock_name(std::string_view name) {
  bool ascii = true;
  for (unsigned char c : name) ascii = ascii && c < 0x80;
  if (ascii && name.size() <= kMaxLockName) return std::string(name);
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  std::string out;
  for (unsigned char c : name.substr(0, kMaxLockName - 17)) {
    out += c < 0x80 ? static_cast<char>(c) : '_';
  }
  return fmt::format("{}#{:016x}", out, h);
}

bool get_lock(Connection& conn, std::string_view name, std::chrono::seconds timeout) {
  auto row = conn.query_one("SELECT GET_LOCK(?, ?)",
                            {fit_lock_name(name), static_cast<std::int64_t>(timeout.count())});
  if (!row || row->is_null(0)) throw DbError(fmt::format("GET_LOCK('{}') failed", name), true);
  return row->i64(0) == 1;
}

bool release_lock(Connection& conn, std::string_view name) {
  auto row = conn.query_one("SELECT RELEASE_LOCK(?)", {fit_lock_name(name)});
  return row && !row->is_null(0) && row->i64(0) == 1;
}

}  // namespace ticketing::db
