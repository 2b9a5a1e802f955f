#pragma once
// Just enough librdkafka for the outbox tests: create/delete a topic and read
// a topic from the beginning of every partition (no consumer group).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ticketing::outbox::test {

// Throws std::runtime_error unless the topic was created.
void create_topic(const std::string& bootstrap, const std::string& topic, int partitions,
                  int replication_factor);
void delete_topic(const std::string& bootstrap, const std::string& topic) noexcept;

struct Message {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::system_clock::time_point received;
};

class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, const std::string& topic, int partitions);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  // Messages received within the timeout (returns early once some arrived
  // and the stream pauses briefly).
  std::vector<Message> poll(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::outbox::test
