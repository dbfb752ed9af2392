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

// Two workers' application layers sharing one table of FTP data expectations: the data connection
// a control session on one announces is recognised on the other (fanout by addresses and ports
// puts them on different workers).
struct DataFlows : TransactionSink {
  void on_transaction(const TxInspection&) override {}
  void on_data_flow(flow::Flow& f) override { linked.push_back(f.parent_flow_id); }
  std::vector<uint64_t> linked;
};

flow::Flow ftp_flow(uint16_t client_port, uint16_t server_port, uint64_t id) {
  flow::Flow f;
  f.key.family = 4;
  f.key.proto = decode::ip_proto::kTcp;
  const uint8_t client[4] = {198, 51, 100, 1}, server[4] = {198, 51, 100, 2};
  std::copy(std::begin(client), std::end(client), f.key.addr[0].begin());
  std::copy(std::begin(server), std::end(server), f.key.addr[1].begin());
  f.key.port[0] = client_port;
  f.key.port[1] = server_port;
  f.client_is_first = true;
  f.flow_id = id;
  f.first_seen = f.last_seen = core::timestamp_from_ns(1'000'000'000);
  return f;
}

void feed(AppLayer& app, flow::Flow& f, Direction d, std::string_view text, uint64_t& offset) {
  app.on_stream_data(f, d, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                     offset, false);
  offset += text.size();
}

TEST(AppLayerSharedExpectations, ADataConnectionOnAnotherWorkerJoinsItsControlConnection) {
  for (const bool shared : {true, false}) {
    DataExpectations table;
    DataFlows sink_a, sink_b;
    AppLayer a(AppLayerOptions{}, rule_registry(), sink_a);
    AppLayer b(AppLayerOptions{}, rule_registry(), sink_b);
    if (shared) {
      a.share_expectations(&table);
      b.share_expectations(&table);
    }
    flow::Flow control = ftp_flow(40000, 21, 77);
    uint64_t to_client = 0, to_server = 0;
    feed(a, control, Direction::kToClient, "220 ready\r\n", to_client);
    feed(a, control, Direction::kToServer, "USER a\r\nPASV\r\n", to_server);
    feed(a, control, Direction::kToClient,
         "331 password\r\n227 Entering Passive Mode (198,51,100,2,19,136).\r\n", to_client);
    ASSERT_EQ(control.app_proto, core::AppProto::kFtp);
    EXPECT_EQ(table.empty(), !shared);

    flow::Flow data = ftp_flow(40001, 5000, 78);  // 19 * 256 + 136
    uint64_t data_offset = 0;
    feed(b, data, Direction::kToClient, "file contents", data_offset);
    if (shared) {
      EXPECT_EQ(data.app_proto, core::AppProto::kFtpData);
      EXPECT_EQ(data.parent_flow_id, 77u);
      EXPECT_EQ(sink_b.linked, std::vector<uint64_t>{77});
      EXPECT_TRUE(table.empty());  // fulfilled once
    } else {
      EXPECT_NE(data.app_proto, core::AppProto::kFtpData);  // the other worker's own table
      EXPECT_TRUE(sink_b.linked.empty());
    }
    for (flow::Flow* f : {&control, &data}) {
      a.on_flow_end(*f);
      for (auto& slot : f->data) slot.reset();
    }
  }
}

// "220 ready" names neither FTP nor SMTP: the client's USER decides, and the greeting, held until
// then, must still come before it, answering nothing; otherwise every reply pairs with the command
// before its own and PASV's answer announces no data connection.
TEST(AppLayerServerFirst, AGreetingThatDecidedNothingStillAnswersNoCommand) {
  DataFlows sink;
  AppLayer app(AppLayerOptions{}, rule_registry(), sink);
  flow::Flow control = ftp_flow(40000, 21, 77);
  uint64_t to_client = 0, to_server = 0;
  feed(app, control, Direction::kToClient, "220 ready\r\n", to_client);
  EXPECT_EQ(control.app_proto, core::AppProto::kNone);  // FTP or SMTP: not yet known
  feed(app, control, Direction::kToServer, "USER a\r\n", to_server);
  ASSERT_EQ(control.app_proto, core::AppProto::kFtp);
  feed(app, control, Direction::kToClient, "331 password\r\n", to_client);
  feed(app, control, Direction::kToServer, "PASV\r\n", to_server);
  feed(app, control, Direction::kToClient, "227 Entering Passive Mode (198,51,100,2,19,136).\r\n",
       to_client);
  core::CounterSnapshot counters;
  app.collect(counters);
  EXPECT_EQ(counters.get("ftp.expectations"), 1u);
  EXPECT_EQ(counters.get("ftp.anomaly.reply_without_command"), 0u);
  app.on_flow_end(control);
  for (auto& slot : control.data) slot.reset();

  // The same greeting before SMTP's EHLO: the 250 answers EHLO.
  flow::Flow mail = ftp_flow(40002, 25, 79);
  to_client = to_server = 0;
  feed(app, mail, Direction::kToClient, "220 ready\r\n", to_client);
  feed(app, mail, Direction::kToServer, "EHLO client.example\r\n", to_server);
  ASSERT_EQ(mail.app_proto, core::AppProto::kSmtp);
  feed(app, mail, Direction::kToClient, "250 hello\r\n", to_client);
  feed(app, mail, Direction::kToServer, "QUIT\r\n", to_server);
  feed(app, mail, Direction::kToClient, "221 bye\r\n", to_client);
  core::CounterSnapshot smtp;
  app.collect(smtp);
  EXPECT_EQ(smtp.get("smtp.anomaly.reply_without_command"), 0u);
  app.on_flow_end(mail);
  for (auto& slot : mail.data) slot.reset();
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
