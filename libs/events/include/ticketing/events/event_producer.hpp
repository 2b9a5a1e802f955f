#pragma once
// Events on top of the raw Producer: every record is validated against its
// type's schema before it is enqueued, so an invalid event is never produced.

#include <cstdint>
#include <future>
#include <string>
#include <string_view>

#include "ticketing/events/envelope.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/schema.hpp"

namespace ticketing::events {

// Header names set on every event record.
inline constexpr std::string_view kEventTypeHeader = "event-type";
inline constexpr std::string_view kTraceparentHeader = "traceparent";

// The record for an event: value = envelope JSON, the given key, headers
// `event-type` and `traceparent` (from the envelope's trace id). `topic`
// defaults to the event type (topics are named after their event type).
// Throws PoisonError when the envelope violates its schema.
Record make_event_record(const Envelope& envelope, std::string key, std::string topic = {},
                         const SchemaRegistry& schemas = SchemaRegistry::builtin());

// Same from envelope text, e.g. an outbox row. Throws PoisonError.
Record event_record_from_json(std::string envelope_json, std::string key, std::string topic = {},
                              const SchemaRegistry& schemas = SchemaRegistry::builtin());

// Record keys are decimal aggregate ids (reservationId, scheduleId, userId).
inline std::string event_key(std::int64_t id) {
  return std::to_string(id);
}

class EventProducer {
 public:
  explicit EventProducer(Producer& producer,
                         const SchemaRegistry& schemas = SchemaRegistry::builtin())
      : producer_(producer), schemas_(schemas) {}

  // Throws PoisonError (invalid event, nothing produced) or KafkaError
  // (could not enqueue; the callback is then never called).
  void publish(const Envelope& envelope, std::string key, DeliveryCallback on_delivery,
               std::string topic = {});
  std::future<DeliveryReport> publish(const Envelope& envelope, std::string key,
                                      std::string topic = {});

  Producer& producer() { return producer_; }

 private:
  Producer& producer_;
  const SchemaRegistry& schemas_;
};

}  // namespace ticketing::events
