// The application-layer stage: protocol detection by content on any port, the request side found
// by content, and the inspections handed to detection per transaction and message.
#include "spanguard/applayer/app_layer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "spanguard/applayer/registry.h"

namespace spanguard::applayer {
namespace {

using flow::Direction;

struct Seen {
  Direction dir;
  uint64_t tx_id;
  bool complete, headers_inspected, tx_done, body_inspected;
  std::string uri, stat_code, body, payload;
};

class Collect : public TransactionSink {
 public:
  void on_transaction(const TxInspection& tx) override {
    const rules::Registry& r = rule_registry();
    auto get = [&](const char* name) {
      const auto& b = tx.buffers[r.find_sticky(name)];
      return b ? std::string(*b) : std::string("<absent>");
    };
    seen.push_back({tx.dir, tx.tx_id, tx.complete, tx.headers_inspected, tx.tx_done,
                    tx.body_inspected, get("http.uri"), get("http.stat_code"), get("file.data"),
                    tx.buffers[rules::kPayloadBuffer] ? std::string(*tx.buffers[0]) : ""});
  }
  std::vector<Seen> seen;
};

class AppLayerTest : public ::testing::Test {
 protected:
  explicit AppLayerTest(AppLayerOptions options = {}) : app_(options, rule_registry(), sink_) {
    flow_.key.family = 4;
    flow_.key.proto = decode::ip_proto::kTcp;
    flow_.key.port[0] = 40000;
    flow_.key.port[1] = 8888;
  }
  void send(Direction d, std::string_view bytes) {
    app_.on_stream_data(flow_, d,
                        std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                        offset_[flow::index(d)], false);
    offset_[flow::index(d)] += bytes.size();
  }
  ~AppLayerTest() override {
    for (auto& d : flow_.data) d.reset();
  }

  Collect sink_;
  AppLayer app_;
  flow::Flow flow_;
  uint64_t offset_[2] = {0, 0};
};

TEST_F(AppLayerTest, HttpIsIdentifiedByContentOnAnyPort) {
  send(Direction::kToServer, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(flow_.app_proto, core::AppProto::kHttp);
  ASSERT_EQ(sink_.seen.size(), 1u);
  EXPECT_EQ(sink_.seen[0].uri, "/a");
  EXPECT_TRUE(sink_.seen[0].complete);
  EXPECT_FALSE(sink_.seen[0].headers_inspected);  // no body: one inspection of the request
  send(Direction::kToClient, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_EQ(sink_.seen.size(), 3u);  // response headers, then the whole response
  EXPECT_EQ(sink_.seen[1].stat_code, "200");
  EXPECT_FALSE(sink_.seen[1].complete);
  EXPECT_EQ(sink_.seen[1].body, "<absent>");
  EXPECT_TRUE(sink_.seen[2].complete);
  EXPECT_TRUE(sink_.seen[2].headers_inspected);
  EXPECT_TRUE(sink_.seen[2].tx_done);
  EXPECT_EQ(sink_.seen[2].body, "hi");
  EXPECT_EQ(sink_.seen[2].dir, Direction::kToClient);
}

TEST_F(AppLayerTest, AProbeSplitAcrossSegmentsStillIdentifiesHttp) {
  send(Direction::kToServer, "PO");
  EXPECT_EQ(flow_.app_proto, core::AppProto::kNone);
  send(Direction::kToServer, "ST /up HTTP/1.1\r\nContent-Length: 3\r\n\r\nab");
  EXPECT_EQ(flow_.app_proto, core::AppProto::kHttp);
  ASSERT_EQ(sink_.seen.size(), 1u);  // the headers; the body is not complete yet
  EXPECT_EQ(sink_.seen[0].uri, "/up");
  EXPECT_FALSE(sink_.seen[0].complete);
  send(Direction::kToServer, "c");
  ASSERT_EQ(sink_.seen.size(), 2u);
  EXPECT_TRUE(sink_.seen[1].complete);
  EXPECT_EQ(sink_.seen[1].body, "abc");
  EXPECT_EQ(sink_.seen[1].payload, "POST /up HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
}

TEST_F(AppLayerTest, OtherProtocolsOnPort80AreNotHttp) {
  flow_.key.port[1] = 80;
  send(Direction::kToClient, "SSH-2.0-OpenSSH_9.2\r\n");
  send(Direction::kToServer, "SSH-2.0-PuTTY\r\n");
  EXPECT_EQ(flow_.app_proto, core::AppProto::kSsh);
  send(Direction::kToServer, "GET / HTTP/1.1\r\n\r\n");  // an SSH flow stays one
  EXPECT_EQ(flow_.app_proto, core::AppProto::kSsh);
  for (const Seen& s : sink_.seen) EXPECT_EQ(s.uri, "<absent>");  // no HTTP transaction
}

TEST_F(AppLayerTest, UnknownBytesMarkTheFlowFailed) {
  flow_.key.port[1] = 80;
  // Enough bytes for every probe to decide (a DNS-over-TCP header needs 14).
  send(Direction::kToClient, std::string("\x00\x01\x02\x03\xff\xfe\xfd\xfc\x80\x81", 10));
  send(Direction::kToServer,
       std::string("\x7f\x45\x4c\x46\x02\x01\x01\x00", 8) + std::string(56, '\xee'));
  EXPECT_EQ(flow_.app_proto, core::AppProto::kFailed);
  send(Direction::kToServer, "GET / HTTP/1.1\r\n\r\n");  // too late: detection gave up
  EXPECT_EQ(flow_.app_proto, core::AppProto::kFailed);
  EXPECT_TRUE(sink_.seen.empty());
}

TEST_F(AppLayerTest, TheRequestSideIsFoundByContentWhenTheFlowGuessedWrong) {
  // Picked up mid-stream with the roles swapped: requests travel "to_client".
  send(Direction::kToClient, "GET /swapped HTTP/1.1\r\n\r\n");
  EXPECT_EQ(flow_.app_proto, core::AppProto::kHttp);
  ASSERT_EQ(sink_.seen.size(), 1u);
  EXPECT_EQ(sink_.seen[0].uri, "/swapped");
  EXPECT_EQ(sink_.seen[0].dir, Direction::kToClient);
}

TEST_F(AppLayerTest, PipelinedRequestsAreSeparateTransactions) {
  send(Direction::kToServer, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(sink_.seen.size(), 2u);
  EXPECT_EQ(sink_.seen[0].tx_id, 0u);
  EXPECT_EQ(sink_.seen[0].uri, "/1");
  EXPECT_EQ(sink_.seen[1].tx_id, 1u);
  EXPECT_EQ(sink_.seen[1].uri, "/2");
}

TEST_F(AppLayerTest, AnIdleKeepAliveConnectionHoldsNoParserAndNumberingGoesOn) {
  send(Direction::kToServer, "GET /1 HTTP/1.1\r\n\r\n");
  // Awaiting the response, the request is parked and the parser dropped...
  EXPECT_EQ(app_.counters().get(AppCounter::kParsersReleased), 1u);
  send(Direction::kToClient, "HTTP/1.1 204 No Content\r\n\r\n");
  // ... and the rebuilt one pairs the answer with it.
  ASSERT_FALSE(sink_.seen.empty());
  EXPECT_EQ(sink_.seen.back().dir, Direction::kToClient);
  EXPECT_EQ(sink_.seen.back().tx_id, 0u);
  EXPECT_EQ(sink_.seen.back().uri, "/1");
  EXPECT_EQ(sink_.seen.back().stat_code, "204");
  EXPECT_TRUE(sink_.seen.back().tx_done);
  EXPECT_EQ(app_.counters().get(AppCounter::kParsersReleased), 2u);
  send(Direction::kToServer, "GET /2 HT");  // a message begins: a parser again
  send(Direction::kToServer, "TP/1.1\r\n\r\n");
  ASSERT_FALSE(sink_.seen.empty());
  EXPECT_EQ(sink_.seen.back().uri, "/2");
  EXPECT_EQ(sink_.seen.back().tx_id, 1u);
}

TEST_F(AppLayerTest, ATransactionAnsweredBeforeItsRequestBodyEndsWhenTheBodyDoes) {
  send(Direction::kToServer, "POST /up HTTP/1.1\r\nContent-Length: 10\r\n\r\n01");
  send(Direction::kToClient, "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(sink_.seen.empty());
  EXPECT_FALSE(sink_.seen.back().tx_done);  // the request is still arriving
  send(Direction::kToServer, "23456789");
  EXPECT_TRUE(sink_.seen.back().complete);
  EXPECT_TRUE(sink_.seen.back().tx_done);
  EXPECT_EQ(sink_.seen.back().dir, Direction::kToServer);
}

TEST_F(AppLayerTest, ABodyDelimitedByTheCloseIsCompletedWhenTheFlowEnds) {
  send(Direction::kToServer, "GET / HTTP/1.0\r\n\r\n");
  send(Direction::kToClient, "HTTP/1.0 200 OK\r\n\r\npart");
  const size_t before = sink_.seen.size();
  app_.on_flow_end(flow_);
  ASSERT_EQ(sink_.seen.size(), before + 1);
  EXPECT_TRUE(sink_.seen.back().complete);
  EXPECT_EQ(sink_.seen.back().body, "part");
}

AppLayerOptions small_bodies() {
  AppLayerOptions o;
  o.http.response_body_limit = 4;
  return o;
}

class SmallBodies : public AppLayerTest {
 protected:
  SmallBodies() : AppLayerTest(small_bodies()) {}
};

TEST_F(SmallBodies, ABodyAtItsLimitIsInspectedAtOnceNotWhenTheMessageEnds) {
  send(Direction::kToServer, "GET /big HTTP/1.1\r\n\r\n");
  send(Direction::kToClient, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
  ASSERT_EQ(sink_.seen.size(), 3u);  // request; response headers; response body at its limit
  EXPECT_TRUE(sink_.seen[2].complete);
  EXPECT_EQ(sink_.seen[2].body, "0123");
  EXPECT_FALSE(sink_.seen[2].tx_done);
  send(Direction::kToClient, std::string(990, 'x'));
  ASSERT_EQ(sink_.seen.size(), 4u);  // the end only closes the transaction
  EXPECT_TRUE(sink_.seen[3].body_inspected);
  EXPECT_TRUE(sink_.seen[3].tx_done);
}

}  // namespace
}  // namespace spanguard::applayer
