#include "ticketing/db/connection.hpp"

#include <poll.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include <fmt/format.h>
#include <mysql.h>

#include "db_metrics.hpp"

namespace ticketing::db {

namespace {

struct MysqlCloser {
  void operator()(MYSQL* m) const noexcept { mysql_close(m); }
};
struct StmtCloser {
  void operator()(MYSQL_STMT* s) const noexcept { mysql_stmt_close(s); }
};
struct ResultFree {
  void operator()(MYSQL_RES* r) const noexcept { mysql_free_result(r); }
};
using MysqlPtr = std::unique_ptr<MYSQL, MysqlCloser>;
using StmtPtr = std::unique_ptr<MYSQL_STMT, StmtCloser>;
using ResultPtr = std::unique_ptr<MYSQL_RES, ResultFree>;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

constexpr std::size_t kMaxCachedStatements = 256;
constexpr unsigned kErNeedReprepare = 1615;
constexpr unsigned kErUnknownStmtHandler = 1243;

void init_library() {
  // mysql_init() is not thread-safe until the library is initialised once.
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

std::string snippet(std::string_view sql) {
  constexpr std::size_t kMax = 160;
  if (sql.size() <= kMax) return std::string(sql);
  return std::string(sql.substr(0, kMax)) + "...";
}

class Timer {
 public:
  explicit Timer(metrics::Histogram& h) : h_(h), start_(std::chrono::steady_clock::now()) {}
  ~Timer() {
    h_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  metrics::Histogram& h_;
  std::chrono::steady_clock::time_point start_;
};

metrics::Histogram& exec_hist() {
  static metrics::Histogram& h = detail::query_duration("exec");
  return h;
}
metrics::Histogram& query_hist() {
  static metrics::Histogram& h = detail::query_duration("query");
  return h;
}
metrics::Histogram& raw_hist() {
  static metrics::Histogram& h = detail::query_duration("raw");
  return h;
}

bool is_integer_type(enum_field_types t) {
  switch (t) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
      return true;
    default:
      return false;
  }
}

bool is_temporal_type(enum_field_types t) {
  switch (t) {
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
      return true;
    default:
      return false;
  }
}

std::string format_time(const MYSQL_TIME& t, unsigned decimals) {
  std::string frac;
  if (decimals > 0 && decimals <= 6) {
    frac = fmt::format(".{:06}", t.second_part).substr(0, decimals + 1);
  }
  switch (t.time_type) {
    case MYSQL_TIMESTAMP_DATE:
      return fmt::format("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    case MYSQL_TIMESTAMP_TIME:
      return fmt::format("{}{:02}:{:02}:{:02}{}", t.neg ? "-" : "", t.day * 24 + t.hour, t.minute,
                         t.second, frac);
    default:
      return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}{}", t.year, t.month, t.day, t.hour,
                         t.minute, t.second, frac);
  }
}

// Output buffer of one result column.
struct Cell {
  enum class Kind { kInt, kDouble, kTime, kString } kind = Kind::kString;
  bool is_unsigned = false;
  unsigned decimals = 0;
  std::int64_t i = 0;
  double d = 0;
  MYSQL_TIME t{};
  std::string buf;
  unsigned long length = 0;
  my_bool is_null = 0;
  my_bool error = 0;
};

// Frees a statement's result set on every path out of a fetch.
class FreeResultGuard {
 public:
  explicit FreeResultGuard(MYSQL_STMT* st) : st_(st) {}
  ~FreeResultGuard() { mysql_stmt_free_result(st_); }
  FreeResultGuard(const FreeResultGuard&) = delete;
  FreeResultGuard& operator=(const FreeResultGuard&) = delete;

 private:
  MYSQL_STMT* st_;
};

}  // namespace

struct Connection::Impl {
  ConnectOptions options;
  MysqlPtr mysql;
  // Declared after `mysql`, so statements close before the session does.
  std::unordered_map<std::string, StmtPtr, StringHash, std::equal_to<>> stmts;
  bool broken = false;
  std::uint64_t server_id = 0;

  [[noreturn]] void fail(unsigned code, const char* message, std::string_view sql) {
    detail::count_error(code);
    if (is_connection_error_code(code)) {
      broken = true;
      stmts.clear();
    }
    throw DbError(
        fmt::format("{} (error {}){}{}", message, code, sql.empty() ? "" : " in: ", snippet(sql)),
        is_retryable_code(code), code);
  }
  [[noreturn]] void fail_conn(std::string_view sql) {
    fail(mysql_errno(mysql.get()), mysql_error(mysql.get()), sql);
  }
  [[noreturn]] void fail_stmt(MYSQL_STMT* st, std::string_view sql) {
    unsigned code = mysql_stmt_errno(st);
    std::string message = mysql_stmt_error(st);
    if (code == 0) fail_conn(sql);
    fail(code, message.c_str(), sql);
  }

  void check_usable() const {
    if (broken || !mysql) {
      throw DbError("connection is broken; acquire a new one", true, 2006);
    }
  }

  MYSQL_STMT* prepare(std::string_view sql) {
    if (auto it = stmts.find(sql); it != stmts.end()) return it->second.get();
    if (stmts.size() >= kMaxCachedStatements) stmts.clear();
    StmtPtr st(mysql_stmt_init(mysql.get()));
    if (!st) fail_conn(sql);
    if (mysql_stmt_prepare(st.get(), sql.data(), static_cast<unsigned long>(sql.size())) != 0) {
      fail_stmt(st.get(), sql);
    }
    my_bool update_max_length = 1;
    mysql_stmt_attr_set(st.get(), STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
    MYSQL_STMT* raw = st.get();
    stmts.emplace(std::string(sql), std::move(st));
    return raw;
  }

  void execute(MYSQL_STMT* st, std::string_view sql, const Params& params) {
    const unsigned long expected = mysql_stmt_param_count(st);
    if (expected != params.size()) {
      throw DbError(fmt::format("statement expects {} parameters, got {}: {}", expected,
                                params.size(), snippet(sql)),
                    false);
    }
    std::vector<MYSQL_BIND> binds(params.size());
    std::vector<unsigned long> lengths(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      MYSQL_BIND& b = binds[i];
      std::memset(&b, 0, sizeof b);
      const auto& storage = params[i].storage();
      // MYSQL_BIND wants non-const buffers; input binds are only read.
      switch (params[i].type()) {
        case Value::Type::kNull:
          b.buffer_type = MYSQL_TYPE_NULL;
          break;
        case Value::Type::kInt:
          b.buffer_type = MYSQL_TYPE_LONGLONG;
          b.buffer = const_cast<std::int64_t*>(&std::get<std::int64_t>(storage));
          break;
        case Value::Type::kUInt:
          b.buffer_type = MYSQL_TYPE_LONGLONG;
          b.buffer = const_cast<std::uint64_t*>(&std::get<std::uint64_t>(storage));
          b.is_unsigned = 1;
          break;
        case Value::Type::kDouble:
          b.buffer_type = MYSQL_TYPE_DOUBLE;
          b.buffer = const_cast<double*>(&std::get<double>(storage));
          break;
        case Value::Type::kString: {
          const auto& s = std::get<std::string>(storage);
          b.buffer_type = MYSQL_TYPE_STRING;
          b.buffer = const_cast<char*>(s.data());
          b.buffer_length = static_cast<unsigned long>(s.size());
          lengths[i] = static_cast<unsigned long>(s.size());
          b.length = &lengths[i];
          break;
        }
      }
    }
    if (!binds.empty() && mysql_stmt_bind_param(st, binds.data()) != 0) fail_stmt(st, sql);
    if (mysql_stmt_execute(st) != 0) fail_stmt(st, sql);
  }

  Rows fetch_all(MYSQL_STMT* st, std::string_view sql) {
    ResultPtr meta(mysql_stmt_result_metadata(st));
    if (!meta) {
      if (mysql_stmt_errno(st) != 0) fail_stmt(st, sql);
      return Rows{};
    }
    FreeResultGuard guard(st);
    if (mysql_stmt_store_result(st) != 0) fail_stmt(st, sql);

    const unsigned nfields = mysql_num_fields(meta.get());
    MYSQL_FIELD* fields = mysql_fetch_fields(meta.get());
    auto columns = std::make_shared<std::vector<std::string>>();
    columns->reserve(nfields);
    std::vector<Cell> cells(nfields);
    std::vector<MYSQL_BIND> binds(nfields);
    for (unsigned i = 0; i < nfields; ++i) {
      const MYSQL_FIELD& f = fields[i];
      columns->emplace_back(f.name, f.name_length);
      Cell& c = cells[i];
      MYSQL_BIND& b = binds[i];
      std::memset(&b, 0, sizeof b);
      b.is_null = &c.is_null;
      b.error = &c.error;
      b.length = &c.length;
      if (is_integer_type(f.type)) {
        c.kind = Cell::Kind::kInt;
        c.is_unsigned = (f.flags & UNSIGNED_FLAG) != 0;
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &c.i;
        b.is_unsigned = c.is_unsigned ? 1 : 0;
      } else if (f.type == MYSQL_TYPE_FLOAT || f.type == MYSQL_TYPE_DOUBLE) {
        c.kind = Cell::Kind::kDouble;
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = &c.d;
      } else if (is_temporal_type(f.type)) {
        c.kind = Cell::Kind::kTime;
        c.decimals = f.decimals;
        b.buffer_type = MYSQL_TYPE_DATETIME;
        b.buffer = &c.t;
        b.buffer_length = sizeof c.t;
      } else {
        c.kind = Cell::Kind::kString;
        c.buf.resize(std::max<unsigned long>(f.max_length, 1));
        b.buffer_type = MYSQL_TYPE_STRING;
        b.buffer = c.buf.data();
        b.buffer_length = static_cast<unsigned long>(c.buf.size());
      }
    }
    if (nfields > 0 && mysql_stmt_bind_result(st, binds.data()) != 0) fail_stmt(st, sql);

    std::vector<Row> rows;
    rows.reserve(static_cast<std::size_t>(mysql_stmt_num_rows(st)));
    for (;;) {
      int rc = mysql_stmt_fetch(st);
      if (rc == MYSQL_NO_DATA) break;
      if (rc == 1) fail_stmt(st, sql);
      std::vector<Value> values;
      values.reserve(nfields);
      for (unsigned i = 0; i < nfields; ++i) {
        Cell& c = cells[i];
        if (c.is_null) {
          values.emplace_back();
          continue;
        }
        switch (c.kind) {
          case Cell::Kind::kInt:
            if (c.is_unsigned) {
              values.emplace_back(static_cast<std::uint64_t>(c.i));
            } else {
              values.emplace_back(c.i);
            }
            break;
          case Cell::Kind::kDouble:
            values.emplace_back(c.d);
            break;
          case Cell::Kind::kTime:
            values.emplace_back(format_time(c.t, c.decimals));
            break;
          case Cell::Kind::kString:
            if (c.length > c.buf.size()) {
              // Longer than max_length promised (should not happen with
              // STMT_ATTR_UPDATE_MAX_LENGTH): fetch the column again whole.
              std::string big(c.length, '\0');
              MYSQL_BIND one = binds[i];
              one.buffer = big.data();
              one.buffer_length = static_cast<unsigned long>(big.size());
              if (mysql_stmt_fetch_column(st, &one, i, 0) != 0) fail_stmt(st, sql);
              values.emplace_back(std::move(big));
            } else {
              values.emplace_back(std::string(c.buf.data(), c.length));
            }
            break;
        }
      }
      rows.emplace_back(columns, std::move(values));
    }
    return Rows(std::move(columns), std::move(rows));
  }

  // Runs `fn(stmt)` on the cached statement, re-preparing once if the server
  // forgot it or asks for a re-prepare after DDL.
  template <typename Fn>
  auto with_statement(std::string_view sql, Fn&& fn) {
    check_usable();
    for (int attempt = 0;; ++attempt) {
      MYSQL_STMT* st = prepare(sql);
      try {
        return fn(st);
      } catch (const DbError& e) {
        if (attempt == 0 && !broken &&
            (e.code() == kErNeedReprepare || e.code() == kErUnknownStmtHandler)) {
          stmts.erase(stmts.find(sql));
          continue;
        }
        throw;
      }
    }
  }
};

Connection::Connection(ConnectOptions options) : impl_(std::make_unique<Impl>()) {
  init_library();
  impl_->options = std::move(options);
  const ConnectOptions& o = impl_->options;
  impl_->mysql.reset(mysql_init(nullptr));
  MYSQL* m = impl_->mysql.get();
  if (m == nullptr) throw DbError("mysql_init failed (out of memory)", true);

  unsigned connect_timeout = static_cast<unsigned>(o.connect_timeout.count());
  unsigned read_timeout = static_cast<unsigned>(o.read_timeout.count());
  unsigned write_timeout = static_cast<unsigned>(o.write_timeout.count());
  my_bool reconnect = 0;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
  mysql_options(m, MYSQL_OPT_RECONNECT, &reconnect);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (o.utc_session) mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone='+00:00'");

  // CLIENT_MULTI_STATEMENTS only matters for exec_raw(): prepared statements
  // cannot carry more than one statement.
  if (mysql_real_connect(m, o.host.c_str(), o.user.c_str(), o.password.c_str(),
                         o.database.empty() ? nullptr : o.database.c_str(), o.port,
                         o.socket.empty() ? nullptr : o.socket.c_str(),
                         CLIENT_MULTI_STATEMENTS) == nullptr) {
    unsigned code = mysql_errno(m);
    std::string message = mysql_error(m);
    detail::count_error(code);
    throw DbError(fmt::format("connect to {} failed: {} (error {})", o.describe(), message, code),
                  is_retryable_code(code), code);
  }
  impl_->server_id = mysql_thread_id(m);
}

Connection::~Connection() = default;
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;

ExecResult Connection::exec(std::string_view sql, const Params& params) {
  Timer timer(exec_hist());
  return impl_->with_statement(sql, [&](MYSQL_STMT* st) {
    impl_->execute(st, sql, params);
    if (mysql_stmt_field_count(st) > 0) {
      FreeResultGuard guard(st);
      if (mysql_stmt_store_result(st) != 0) impl_->fail_stmt(st, sql);
    }
    return ExecResult{mysql_stmt_affected_rows(st), mysql_stmt_insert_id(st)};
  });
}

Rows Connection::query(std::string_view sql, const Params& params) {
  Timer timer(query_hist());
  return impl_->with_statement(sql, [&](MYSQL_STMT* st) {
    impl_->execute(st, sql, params);
    return impl_->fetch_all(st, sql);
  });
}

std::optional<Row> Connection::query_one(std::string_view sql, const Params& params) {
  Rows rows = query(sql, params);
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

ExecResult Connection::exec_raw(std::string_view sql) {
  Timer timer(raw_hist());
  impl_->check_usable();
  MYSQL* m = impl_->mysql.get();
  if (mysql_real_query(m, sql.data(), static_cast<unsigned long>(sql.size())) != 0) {
    impl_->fail_conn(sql);
  }
  ExecResult result;
  for (;;) {
    ResultPtr res(mysql_store_result(m));
    if (!res && mysql_field_count(m) != 0) impl_->fail_conn(sql);
    if (!res) result = ExecResult{mysql_affected_rows(m), mysql_insert_id(m)};
    int next = mysql_next_result(m);
    if (next == -1) break;
    if (next > 0) impl_->fail_conn(sql);
  }
  return result;
}

void Connection::ping() {
  Timer timer(raw_hist());
  impl_->check_usable();
  if (mysql_ping(impl_->mysql.get()) != 0) impl_->fail_conn("ping");
}

bool Connection::broken() const noexcept {
  return impl_ == nullptr || impl_->broken;
}

void Connection::invalidate() noexcept {
  if (impl_) impl_->broken = true;
}

bool Connection::looks_alive() const noexcept {
  if (broken() || !impl_->mysql) return false;
  int fd = static_cast<int>(mysql_get_socket(impl_->mysql.get()));
  if (fd < 0) return false;
  // An idle session has nothing to read: readability means the server sent
  // an error packet or closed the socket.
  pollfd p{};
  p.fd = fd;
  p.events = POLLIN;
  int rc = ::poll(&p, 1, 0);
  if (rc == 0) return true;
  if (rc > 0) impl_->broken = true;
  return rc < 0;  // EINTR and friends: assume alive, the next statement will tell
}

std::uint64_t Connection::server_id() const noexcept {
  return impl_ ? impl_->server_id : 0;
}

bool Connection::in_transaction() const noexcept {
  if (!impl_ || !impl_->mysql) return false;
  unsigned int status = 0;
  if (mariadb_get_infov(impl_->mysql.get(), MARIADB_CONNECTION_SERVER_STATUS, &status) != 0) {
    return true;  // unknown: assume the worst
  }
  return (status & SERVER_STATUS_IN_TRANS) != 0;
}

const ConnectOptions& Connection::options() const noexcept {
  return impl_->options;
}

void Connection::begin(std::string_view start_sql) {
  exec_raw(start_sql);
}

void Connection::commit() {
  Timer timer(exec_hist());
  impl_->check_usable();
  if (mysql_commit(impl_->mysql.get()) != 0) impl_->fail_conn("COMMIT");
}

void Connection::rollback() {
  Timer timer(exec_hist());
  impl_->check_usable();
  if (mysql_rollback(impl_->mysql.get()) != 0) impl_->fail_conn("ROLLBACK");
}

}  // namespace ticketing::db
