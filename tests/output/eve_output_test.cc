// The EVE writer thread: every event workers hand over reaches the file, each worker's in the
// order it handed them over, the file is flushed without being asked, and events handed over
// after close() are written by their caller rather than lost.
#include "spanguard/output/eve_output.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "spanguard/output/envelope.h"

namespace spanguard::output {
namespace {

using namespace std::chrono_literals;

// An alert naming its producer (signature_id) and its index (event seq).
v1::Envelope alert(uint32_t producer, uint64_t index) {
  v1::Envelope e;
  e.mutable_alert()->mutable_alert()->set_signature_id(producer);
  set_event_seq(e, index);
  return e;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string temp_file(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("spanguard-") + name + "-" + std::to_string(::getpid()) + ".json"))
      .string();
}

TEST(EveOutput, EveryEventReachesTheFileInEachProducersOrder) {
  const std::string path = temp_file("eve-output");
  std::filesystem::remove(path);
  constexpr uint32_t kProducers = 3;
  constexpr uint64_t kEach = 5000;
  {
    EveWriter eve(path);
    EveOutput out(eve, 64);  // small rings: producers wait for the writer thread often
    std::vector<std::thread> producers;
    for (uint32_t p = 1; p <= kProducers; ++p) {
      producers.emplace_back([&out, p] {
        for (uint64_t i = 1; i <= kEach; ++i) {
          v1::Envelope e = alert(p, i);
          ASSERT_TRUE(out.hand_off(e, HandoffFull::kWait));
          ASSERT_FALSE(e.has_alert()) << "the event was moved, not copied";
        }
      });
    }
    for (std::thread& t : producers) t.join();
    // Flushed by the writer thread once caught up, without close().
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (lines_of(path).size() < kProducers * kEach &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(lines_of(path).size(), kProducers * kEach);
    out.close();
    EXPECT_EQ(out.dropped(), 0u);
  }
  const std::regex fields("\"signature_id\":([0-9]+).*\"seq\":([0-9]+)");
  std::map<uint32_t, uint64_t> last;
  size_t n = 0;
  for (const std::string& line : lines_of(path)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, fields)) << line;
    const auto producer = static_cast<uint32_t>(std::stoul(m[1]));
    const uint64_t seq = std::stoull(m[2]);
    EXPECT_EQ(seq, last[producer] + 1) << "producer " << producer << " out of order";
    last[producer] = seq;
    ++n;
  }
  EXPECT_EQ(n, kProducers * kEach);
  std::filesystem::remove(path);
}

TEST(EveOutput, AfterCloseTheCallerWritesItsEvent) {
  const std::string path = temp_file("eve-output-closed");
  std::filesystem::remove(path);
  {
    EveWriter eve(path);
    EveOutput out(eve, 16);
    v1::Envelope first = alert(1, 1);
    ASSERT_TRUE(out.hand_off(first, HandoffFull::kDrop));
    out.close();
    EXPECT_EQ(lines_of(path).size(), 1u) << "close() writes and flushes what was handed over";
    v1::Envelope late = alert(1, 2);
    EXPECT_TRUE(out.hand_off(late, HandoffFull::kDrop));
    eve.flush();
    EXPECT_EQ(lines_of(path).size(), 2u);
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace spanguard::output
