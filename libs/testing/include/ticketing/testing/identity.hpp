#pragma once

#include <cstdint>
#include <string>

namespace ticketing::testing {

// An ID token for `user_id` from the stack's development identity provider
// (POST {idp_url()}/v1/id-tokens), as a real client gets one from its
// provider before asking reservation-api for a queue token. Throws
// std::runtime_error when the provider does not answer 200.
std::string id_token(std::int64_t user_id);

}  // namespace ticketing::testing
