#include "ticketing/db/errors.hpp"

namespace ticketing::db {

bool is_connection_error_code(unsigned code) noexcept {
  switch (code) {
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1152:  // ER_ABORTING_CONNECTION
    case 1158:  // ER_NET_READ_ERROR
    case 1159:  // ER_NET_READ_INTERRUPTED
    case 1160:  // ER_NET_ERROR_ON_WRITE
    case 1161:  // ER_NET_WRITE_INTERRUPTED
    case 1927:  // ER_CONNECTION_KILLED
    case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT
      return true;
    default:
      // Client-side errors (2000..2999: CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
      // CR_CONNECTION_ERROR, ...) all leave the handle unusable, except the
      // few that are programming errors on a healthy connection.
      return code >= 2000 && code < 3000 && code != 2014 /* CR_COMMANDS_OUT_OF_SYNC */ &&
             code != 2030 /* CR_NO_PREPARE_STMT */ && code != 2031 /* CR_PARAMS_NOT_BOUND */ &&
             code != 2034 /* CR_INVALID_PARAMETER_NO */ &&
             code != 2036 /* CR_UNSUPPORTED_PARAM_TYPE */;
  }
}

bool is_retryable_code(unsigned code) noexcept {
  switch (code) {
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
    case 1213:  // ER_LOCK_DEADLOCK
    case 1040:  // ER_CON_COUNT_ERROR (too many connections)
    case 1203:  // ER_TOO_MANY_USER_CONNECTIONS
    case 1317:  // ER_QUERY_INTERRUPTED
    case 1614:  // ER_XA_RBDEADLOCK
    case 2005:  // CR_UNKNOWN_HOST: resolver hiccups happen during restarts
      return true;
    default:
      return is_connection_error_code(code);
  }
}

bool is_duplicate_key(const DbError& e) noexcept {
  return e.code() == kErDupEntry || e.code() == kErDupEntryWithKeyName;
}

}  // namespace ticketing::db
