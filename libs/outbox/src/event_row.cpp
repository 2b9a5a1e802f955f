#include "ticketing/outbox/event_row.hpp"

#include "ticketing/events/event_producer.hpp"

namespace ticketing::outbox {

OutboxRow event_row(const events::Envelope& envelope, std::string key) {
  auto record = events::make_event_record(envelope, std::move(key));
  OutboxRow row{std::move(record.topic), std::move(record.key), std::move(record.value), {}};
  for (auto& h : record.headers) row.headers.emplace_back(std::move(h.key), std::move(h.value));
  return row;
}

}  // namespace ticketing::outbox
