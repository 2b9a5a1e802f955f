#include "ticketing/events/event_producer.hpp"

#include <utility>

namespace ticketing::events {

namespace {

Record build(std::string value, const Envelope& e, std::string key, std::string topic) {
  Record r;
  // Not a conditional expression: with a const branch it would copy `topic`.
  if (topic.empty()) {
    r.topic = e.type;
  } else {
    r.topic = std::move(topic);
  }
  r.key = std::move(key);
  r.value = std::move(value);
  r.headers.push_back({std::string(kEventTypeHeader), e.type});
  r.headers.push_back({std::string(kTraceparentHeader), make_traceparent(e.trace_id)});
  return r;
}

}  // namespace

Record make_event_record(const Envelope& envelope, std::string key, std::string topic,
                         const SchemaRegistry& schemas) {
  std::string value = to_json(envelope);
  schemas.validate(envelope.type, value);
  return build(std::move(value), envelope, std::move(key), std::move(topic));
}

Record event_record_from_json(std::string envelope_json, std::string key, std::string topic,
                              const SchemaRegistry& schemas) {
  const Envelope e = parse_envelope(envelope_json);
  schemas.validate(e.type, envelope_json);
  return build(std::move(envelope_json), e, std::move(key), std::move(topic));
}

void EventProducer::publish(const Envelope& envelope, std::string key, DeliveryCallback on_delivery,
                            std::string topic) {
  producer_.produce(make_event_record(envelope, std::move(key), std::move(topic), schemas_),
                    std::move(on_delivery));
}

std::future<DeliveryReport> EventProducer::publish(const Envelope& envelope, std::string key,
                                                   std::string topic) {
  return producer_.produce(make_event_record(envelope, std::move(key), std::move(topic), schemas_));
}

}  // namespace ticketing::events
