#include "message_conversion.hpp"

#include "ticketing/events/namespace.hpp"

namespace ticketing::events::detail {

Message to_message(rd_kafka_message_t* m) {
  Message out;
  out.topic = local_topic_or_same(rd_kafka_topic_name(m->rkt));  // without TOPIC_PREFIX
  out.partition = m->partition;
  out.offset = m->offset;
  if (m->key != nullptr) {
    out.has_key = true;
    out.key.assign(static_cast<const char*>(m->key), m->key_len);
  }
  if (m->payload != nullptr) out.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      out.headers.push_back(
          {name, value != nullptr ? std::string(static_cast<const char*>(value), size) : ""});
    }
  }
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const std::int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
  out.timestamp_ms = ts_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
  return out;
}

}  // namespace ticketing::events::detail
