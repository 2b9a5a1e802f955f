#pragma once
// Shared helpers of the libs/events integration tests (real Kafka cluster).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ticketing/events/consumer.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/producer.hpp"

namespace evtest {

std::string bootstrap();

// Creates uniquely named topics (partitions, RF 3, min.insync.replicas=2)
// and deletes them when destroyed.
class TempTopics {
 public:
  explicit TempTopics(std::vector<std::string> names, int partitions = 3);
  ~TempTopics();
  TempTopics(const TempTopics&) = delete;
  TempTopics& operator=(const TempTopics&) = delete;
  const std::string& operator[](std::size_t i) const { return names_.at(i); }

 private:
  std::vector<std::string> names_;
};

ticketing::events::ProducerOptions producer_options(const std::string& client_id);
ticketing::events::ConsumerOptions consumer_options(const std::string& group,
                                                    std::vector<std::string> topics);

// A valid payment.completed envelope: the sequence is the paymentId.
ticketing::events::Envelope payment_completed(std::int64_t payment_id, std::int64_t reservation_id,
                                              std::int64_t amount = 100);

// Reads the topics from the beginning with a fresh group until `expected`
// records arrived or nothing new came for `idle` (or `limit` passed).
std::vector<ticketing::events::Message> read_all(const std::vector<std::string>& topics,
                                                 std::size_t expected,
                                                 std::chrono::milliseconds idle,
                                                 std::chrono::milliseconds limit);

// Runs `bash <stack script> <args>`; returns its exit status.
int stack(const std::string& args);

// Kills a broker and guarantees it is started again, even when the test fails.
class BrokerKiller {
 public:
  explicit BrokerKiller(int node) : node_(node) {}
  ~BrokerKiller();
  BrokerKiller(const BrokerKiller&) = delete;
  BrokerKiller& operator=(const BrokerKiller&) = delete;
  void kill();
  void restart();

 private:
  int node_;
  bool killed_ = false;
};

// Integer member of a JSON object text (test helper; throws when absent).
std::int64_t json_int(const std::string& json, const char* field);

double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace evtest
