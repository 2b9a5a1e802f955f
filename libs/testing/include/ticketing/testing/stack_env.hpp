#pragma once

#include <map>
#include <string>

namespace ticketing::testing {

// Connection settings of the local stack (`make up`), read from the
// environment with the defaults of scripts/stack.sh, so a test binary can be
// run by hand as well as from ctest.
std::string kafka_bootstrap();
std::string mysql_url();
std::string redis_url();
// The development identity provider (tools/dev-idp) the stack runs, and the
// ID_TOKEN_* settings a service needs to trust it.
std::string idp_url();
std::map<std::string, std::string> id_token_env();
// Path of scripts/stack.sh, for tests that stop and start a broker.
std::string stack_script();
// A name unique to this test run, for topics, tables and groups.
std::string unique_name(const std::string& prefix);

}  // namespace ticketing::testing
