// HTTP/1.x parser: framing, pairing, decoding, limits, anomalies, the Suricata buffer layouts, and
// that every split of the bytes (byte at a time, every 2-way cut) gives the same events.
#include "spanguard/applayer/http.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <deque>
#include <map>
#include <sstream>

#include "spanguard/applayer/http_decompress.h"
#include "spanguard/applayer/http_normalize.h"

namespace spanguard::applayer::http {
namespace {

using namespace std::string_literals;

using Bytes = std::span<const uint8_t>;
Bytes bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// ---- compressed bodies built in the test ----------------------------------------------------

// window_bits: 16+15 gzip, 15 zlib, -15 raw deflate.
std::string compress(std::string_view in, int window_bits) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
std::string gzip(std::string_view in) { return compress(in, 16 + 15); }

// ---- recording observer ----------------------------------------------------------------------

struct Record {
  Side side;
  Event event;
  Transaction tx;   // copy at the time of the event
  Buffers buffers;  // views into `tx` above
};

std::string describe(const Transaction& tx, Side side, Event event) {
  std::ostringstream o;
  o << "tx " << tx.id << (side == Side::kRequest ? " request " : " response ")
    << (event == Event::kHeaders     ? "headers"
        : event == Event::kBodyLimit ? "body_limit"
                                     : "complete")
    << " anomalies=" << tx.anomalies << " req=" << tx.has_request << " res=" << tx.has_response
    << " 09=" << tx.http09 << " uri=[" << tx.uri << "] host=[" << tx.host << "]\n";
  for (const Message* m : {&tx.request, &tx.response()}) {
    o << "  line=[" << m->line << "] method=[" << m->method << "] target=[" << m->uri_raw
      << "] proto=[" << m->protocol << "] code=[" << m->status_code << "] msg=[" << m->status_msg
      << "] done=" << m->headers_done << m->complete << m->truncated << m->body_truncated;
    // At the body limit body_bytes counts what has arrived so far, which depends on how the
    // bytes were cut; only what is kept of the body is final there.
    if (event != Event::kBodyLimit) o << " body_bytes=" << m->body_bytes;
    o << "\n  raw=[" << m->headers_raw << "] body=[" << m->body << "]\n";
    for (const Header& h : m->headers) o << "  [" << h.name << "]=[" << h.value << "]\n";
  }
  Buffers b;
  fill_buffers(tx, side, b);
  for (size_t f = 0; f < static_cast<size_t>(BufferField::kCount); ++f) {
    if (b.has(static_cast<BufferField>(f)))
      o << "  " << buffer_name(static_cast<BufferField>(f)) << "=["
        << b.get(static_cast<BufferField>(f)) << "]\n";
  }
  return o.str();
}

class Recorder : public Observer {
 public:
  void on_http(Transaction& tx, Side side, Event event) override {
    log += describe(tx, side, event);
    Record& r = records.emplace_back(Record{side, event, tx, {}});
    (void)r;
  }
  // The last record of (side, event) for transaction `id`; buffers re-filled from the copy.
  const Record* find(uint64_t id, Side side, Event event) {
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      if (it->tx.id == id && it->side == side && it->event == event) {
        fill_buffers(it->tx, side, it->buffers);
        return &*it;
      }
    }
    return nullptr;
  }
  size_t count(Side side, Event event) const {
    size_t n = 0;
    for (const Record& r : records) n += r.side == side && r.event == event;
    return n;
  }
  std::string log;
  std::deque<Record> records;  // stable addresses
};

struct Harness {
  explicit Harness(Limits l = {}) : limits(l), parser(limits, rec, counters) {}
  void req(std::string_view s) { parser.parse(Side::kRequest, bytes(s)); }
  void res(std::string_view s) { parser.parse(Side::kResponse, bytes(s)); }
  uint64_t counter(HttpCounter c) const { return counters.get(c); }
  uint64_t anomaly(Anomaly a) const { return counters.get(anomaly_counter(a)); }
  const Transaction& complete(uint64_t id, Side side) {
    const Record* r = rec.find(id, side, Event::kComplete);
    EXPECT_NE(r, nullptr) << "no complete event for tx " << id;
    static Transaction empty;
    return r ? r->tx : empty;
  }
  Buffers buffers(uint64_t id, Side side) {
    Buffers b;
    const Record* r = rec.find(id, side, Event::kComplete);
    if (r) b = r->buffers;
    return b;
  }

  Limits limits;
  Recorder rec;
  core::Counters<HttpCounter> counters{http_counter_group()};
  Parser parser;
};

// ---- split invariance ----------------------------------------------------------------------

struct Step {
  enum Kind { kData, kGap } kind = kData;
  Side side = Side::kRequest;
  std::string data;
};
using Script = std::vector<Step>;
Step Req(std::string s) { return {Step::kData, Side::kRequest, std::move(s)}; }
Step Res(std::string s) { return {Step::kData, Side::kResponse, std::move(s)}; }
Step Gap(Side side) { return {Step::kGap, side, {}}; }

// Runs the script, feeding step `split_step` cut at `cut` (or byte by byte when cut == SIZE_MAX;
// every data step byte by byte when split_step == SIZE_MAX and cut == SIZE_MAX).
std::string run(const Script& script, const Limits& limits, size_t split_step = SIZE_MAX - 1,
                size_t cut = 0) {
  Harness h(limits);
  for (size_t i = 0; i < script.size(); ++i) {
    const Step& st = script[i];
    if (st.kind == Step::kGap) {
      h.parser.on_gap(st.side);
      continue;
    }
    auto feed = [&](std::string_view s) { h.parser.parse(st.side, bytes(s)); };
    const bool all_bytes = split_step == SIZE_MAX && cut == SIZE_MAX;
    if (all_bytes || (i == split_step && cut == SIZE_MAX)) {
      for (size_t k = 0; k < st.data.size(); ++k) feed(std::string_view(st.data).substr(k, 1));
    } else if (i == split_step) {
      feed(std::string_view(st.data).substr(0, cut));
      feed(std::string_view(st.data).substr(cut));
    } else {
      feed(st.data);
    }
  }
  h.parser.on_end();
  EXPECT_EQ(h.parser.transactions_held(), 0u);
  std::string out = h.rec.log;
  for (size_t c = 0; c < static_cast<size_t>(HttpCounter::kCount); ++c) {
    out += std::to_string(h.counters.get(static_cast<HttpCounter>(c))) + ",";
  }
  return out;
}

void expect_split_invariant(const Script& script, const Limits& limits = {}) {
  const std::string whole = run(script, limits);
  ASSERT_FALSE(whole.empty());
  EXPECT_EQ(run(script, limits, SIZE_MAX, SIZE_MAX), whole) << "byte at a time";
  for (size_t i = 0; i < script.size(); ++i) {
    if (script[i].kind != Step::kData) continue;
    for (size_t cut = 0; cut <= script[i].data.size(); ++cut) {
      const std::string split = run(script, limits, i, cut);
      ASSERT_EQ(split, whole) << "step " << i << " cut at " << cut;
    }
  }
}

struct Scenario {
  const char* name;
  Script script;
  Limits limits;
};

std::vector<Scenario> scenarios() {
  const std::string page = "<html>hello hello hello hello</html>";
  const std::string gz = gzip(page);
  const std::string raw_deflate = compress(page, -15);
  const std::string zlib_deflate = compress(page, 15);
  Limits small;
  small.response_body_limit = 10;
  small.request_body_limit = 4;
  small.header_limit = 64;
  return {
      {"simple",
       {Req("GET /index.html HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")},
       {}},
      {"pipelined",
       {Req("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
            "POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 404 Not Found\r\n"
            "Content-Length: 2\r\n\r\n22HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")},
       {}},
      {"chunked",
       {Req("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "4;name=val\r\nWiki\r\n5 ; x\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n")},
       {}},
      {"gzip",
       {Req("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
            std::to_string(gz.size()) + "\r\n\r\n" + gz)},
       {}},
      {"deflate_raw",
       {Req("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n" + raw_deflate)},
       {}},
      {"deflate_zlib",
       {Req("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n" +
            [&] {
              std::ostringstream o;
              o << std::hex << zlib_deflate.size() << "\r\n" << zlib_deflate << "\r\n0\r\n\r\n";
              return o.str();
            }())},
       {}},
      {"folded_and_duplicates",
       {Req("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n  two\r\n\tthree\r\n"
            "Accept: a\r\nAccept: b\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n")},
       {}},
      {"continue",
       {Req("POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
        Res("HTTP/1.1 100 Continue\r\n\r\n"), Req("body"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")},
       {}},
      {"no_body_responses",
       {Req("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n"
            "GET /m HTTP/1.1\r\nHost: a\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n")},
       {}},
      {"close_delimited",
       {Req("GET / HTTP/1.0\r\n\r\n"),
        Res("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it\r\n")},
       {}},
      {"connect_refused",
       {Req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
            "GET /after HTTP/1.1\r\nHost: b\r\n\r\n"),
        Res("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nnoHTTP/1.1 200 OK\r\n"
            "Content-Length: 0\r\n\r\n")},
       {}},
      {"connect_tunnel",
       {Req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"),
        Res("HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 server hello")},
       {}},
      {"http09", {Req("GET /old\r\n"), Res("<html>raw</html>")}, {}},
      {"bare_lf",
       {Req("GET /lf HTTP/1.1\nHost: a\n\n"),
        Res("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")},
       {}},
      {"garbage_then_request",
       {Req("\x01\x02 garbage line\r\nmore junk\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")},
       {}},
      {"response_only", {Res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")}, {}},
      {"limits",
       {Req("POST /p HTTP/1.1\r\nHost: a\r\nX-Big: 0123456789012345678901234567890123456789\r\n"
            "Content-Length: 6\r\n\r\nabcdef"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789")},
       small},
      {"gap_resync",
       {Req("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234"), Gap(Side::kRequest),
        Req("89GET /b HTTP/1.1\r\nHost: a\r\n\r\n"),
        Res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: "
            "1\r\n\r\nb")},
       {}},
  };
}

void PrintTo(const Scenario& s, std::ostream* os) { *os << s.name; }

class SplitTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SplitTest, EverySplitGivesTheSameEvents) {
  expect_split_invariant(GetParam().script, GetParam().limits);
}

INSTANTIATE_TEST_SUITE_P(Http, SplitTest, ::testing::ValuesIn(scenarios()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// ---- probes ----------------------------------------------------------------------------------

TEST(HttpProbe, RequestNeedsAMethodAndASpace) {
  EXPECT_EQ(probe_request(bytes("GET / HTTP/1.1\r\n")), Probe::kYes);
  EXPECT_EQ(probe_request(bytes("GET /")), Probe::kYes);  // HTTP/0.9
  EXPECT_EQ(probe_request(bytes("PROPFIND\t/x")), Probe::kYes);
  EXPECT_EQ(probe_request(bytes("GE")), Probe::kNeedMore);
  EXPECT_EQ(probe_request(bytes("GET")), Probe::kNeedMore);
  EXPECT_EQ(probe_request(bytes("")), Probe::kNeedMore);
  EXPECT_EQ(probe_request(bytes("GETX /")), Probe::kNo);
  EXPECT_EQ(probe_request(bytes("\x16\x03\x01\x02")), Probe::kNo);
  EXPECT_EQ(probe_request(bytes("get / HTTP/1.1")), Probe::kNo);
}

TEST(HttpProbe, ResponseNeedsHttpSlashDigit) {
  EXPECT_EQ(probe_response(bytes("HTTP/1.1 200 OK")), Probe::kYes);
  EXPECT_EQ(probe_response(bytes("HTTP/")), Probe::kNeedMore);
  EXPECT_EQ(probe_response(bytes("HT")), Probe::kNeedMore);
  EXPECT_EQ(probe_response(bytes("HTTP/x")), Probe::kNo);
  EXPECT_EQ(probe_response(bytes("SSH-2.0")), Probe::kNo);
}

// ---- requests and responses ------------------------------------------------------------------

TEST(HttpParser, ParsesRequestAndResponseIntoOneTransaction) {
  Harness h;
  h.req("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello");
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_TRUE(tx.has_request);
  EXPECT_TRUE(tx.has_response);
  EXPECT_EQ(tx.request.method, "GET");
  EXPECT_EQ(tx.request.uri_raw, "/index.html");
  EXPECT_EQ(tx.request.protocol, "HTTP/1.1");
  EXPECT_EQ(tx.response().status_code, "200");
  EXPECT_EQ(tx.response().status_msg, "OK");
  EXPECT_EQ(tx.response().body, "hello");
  EXPECT_EQ(tx.response().body_bytes, 5u);
  EXPECT_EQ(tx.anomalies, 0u);
  EXPECT_EQ(h.rec.count(Side::kRequest, Event::kHeaders), 1u);
  EXPECT_EQ(h.rec.count(Side::kRequest, Event::kComplete), 1u);
  EXPECT_EQ(h.rec.count(Side::kResponse, Event::kHeaders), 1u);
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 1u);
  EXPECT_EQ(h.counter(HttpCounter::kResponses), 1u);
  EXPECT_EQ(h.counter(HttpCounter::kTransactions), 1u);
  EXPECT_EQ(h.parser.transactions_held(), 0u);  // both sides complete: released
}

TEST(HttpParser, PipelinedResponsesPairInRequestOrder) {
  Harness h;
  h.req("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
  h.req("GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(h.parser.transactions_held(), 3u);
  h.res(
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc");
  EXPECT_EQ(h.complete(0, Side::kResponse).response().body, "a");
  EXPECT_EQ(h.complete(1, Side::kResponse).response().body, "b");
  EXPECT_EQ(h.complete(2, Side::kResponse).response().body, "c");
  EXPECT_EQ(h.complete(2, Side::kResponse).request.uri_raw, "/3");
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(HttpParser, ResponseWithoutRequestMakesAResponseOnlyTransaction) {
  Harness h;
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_FALSE(tx.has_request);
  EXPECT_TRUE(tx.has_response);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kResponseWithoutRequest));
  EXPECT_EQ(h.anomaly(Anomaly::kResponseWithoutRequest), 1u);
  EXPECT_EQ(h.parser.transactions_held(), 0u);
  // The next request starts a new transaction.
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_NE(h.rec.find(1, Side::kRequest, Event::kComplete), nullptr);
}

TEST(HttpParser, ChunkedBodyWithExtensionsAndTrailers) {
  Harness h;
  h.req(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4;name=\"v\"\r\nWiki\r\n5 ;x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
      "X-Checksum: 42\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_EQ(tx.request.body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(tx.request.body_bytes, 23u);
  ASSERT_NE(tx.request.find("x-checksum"), nullptr);
  EXPECT_EQ(tx.request.find("X-Checksum")->value, "42");
  EXPECT_TRUE(tx.request.headers_raw.ends_with("\r\n\r\nX-Checksum: 42\r\n\r\n"));
  Buffers b = h.buffers(0, Side::kRequest);
  EXPECT_EQ(b.header, "Host: a\r\nTransfer-Encoding: chunked\r\nX-Checksum: 42\r\n");
  EXPECT_EQ(tx.anomalies, 0u);
}

TEST(HttpParser, InvalidChunkSizeEndsTheMessageAndResyncs) {
  Harness h;
  h.req(
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nstuff\r\n"
      "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  const Transaction& a = h.complete(0, Side::kRequest);
  EXPECT_TRUE(a.anomalies & bit(Anomaly::kInvalidChunkSize));
  EXPECT_TRUE(a.request.truncated);
  EXPECT_EQ(h.complete(1, Side::kRequest).request.uri_raw, "/b");
}

TEST(HttpParser, ChunkDataNotFollowedByCrlfIsFlagged) {
  Harness h;
  h.req("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n0\r\n\r\n");
  const Transaction& a = h.complete(0, Side::kRequest);
  EXPECT_EQ(a.request.body, "abc");
  EXPECT_TRUE(a.anomalies & bit(Anomaly::kInvalidChunkEnd));
}

TEST(HttpParser, BodyDelimitedByCloseEndsAtFlowEnd) {
  Harness h;
  h.req("GET / HTTP/1.0\r\n\r\n");
  h.res("HTTP/1.0 200 OK\r\n\r\npart one ");
  h.res("part two");
  EXPECT_EQ(h.rec.find(0, Side::kResponse, Event::kComplete), nullptr);
  h.parser.on_end();
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_EQ(tx.response().body, "part one part two");
  EXPECT_FALSE(tx.response().truncated);
  EXPECT_EQ(tx.anomalies, 0u);
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(HttpParser, ConflictingFramingPrefersChunkedAndFlagsIt) {
  Harness h;
  h.req(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\nx\r\n0\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_EQ(tx.request.body, "x");
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kContentLengthWithChunked));
}

TEST(HttpParser, BadAndConflictingContentLength) {
  Harness h;
  h.req(
      "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx");
  const Transaction& a = h.complete(0, Side::kRequest);
  EXPECT_TRUE(a.anomalies & bit(Anomaly::kInvalidContentLength));
  EXPECT_TRUE(a.request.body.empty());  // a request without valid framing has no body
  const Transaction& b = h.complete(1, Side::kRequest);
  EXPECT_TRUE(b.anomalies & bit(Anomaly::kConflictingContentLength));
  EXPECT_EQ(b.request.body, "x");  // the first Content-Length counts
  EXPECT_EQ(b.request.field("Content-Length")->value, "1");
  EXPECT_EQ(h.anomaly(Anomaly::kInvalidContentLength), 1u);
}

TEST(HttpParser, ResponseWithBadContentLengthRunsToTheClose) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nbody");
  h.parser.on_end();
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidContentLength));
  EXPECT_EQ(tx.response().body, "body");
}

// ---- Content-Encoding ------------------------------------------------------------------------

TEST(HttpDecompress, GzipAndBothDeflateFormats) {
  const std::string page(3000, 'z');
  for (const auto& [coding, body] :
       std::vector<std::pair<std::string, std::string>>{{"gzip", gzip(page)},
                                                        {"x-gzip", gzip(page)},
                                                        {"deflate", compress(page, 15)},
                                                        {"deflate", compress(page, -15)}}) {
    Harness h;
    h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    h.res("HTTP/1.1 200 OK\r\nContent-Encoding: " + coding +
          "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    const Transaction& tx = h.complete(0, Side::kResponse);
    EXPECT_EQ(tx.response().body, page) << coding;
    EXPECT_EQ(tx.response().body_bytes, body.size());  // the wire length, as EVE reports it
    EXPECT_EQ(tx.anomalies, 0u);
    EXPECT_EQ(h.counter(HttpCounter::kDecompressedBytes), page.size());
    EXPECT_EQ(h.counter(HttpCounter::kBodyBytes), page.size());
  }
}

TEST(HttpDecompress, RequestBodiesAreDecodedToo) {
  Harness h;
  const std::string gz = gzip("user=admin");
  h.req("POST /l HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: " +
        std::to_string(gz.size()) + "\r\n\r\n" + gz);
  EXPECT_EQ(h.complete(0, Side::kRequest).request.body, "user=admin");
}

TEST(HttpDecompress, TwoLayersAreDecoded) {
  Harness h;
  const std::string twice = compress(gzip("layered"), 15);
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, deflate\r\nContent-Length: " +
        std::to_string(twice.size()) + "\r\n\r\n" + twice);
  EXPECT_EQ(h.complete(0, Side::kResponse).response().body, "layered");
}

TEST(HttpDecompress, InvalidDataIsFlaggedAndKeptAsIs) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\n\x1f\x8b not gz");
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kDecompressionFailed));
  EXPECT_NE(tx.response().body.find("not gz"), std::string::npos);
}

TEST(HttpDecompress, UnknownCodingIsFlaggedAndKeptRaw) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc");
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kUnknownContentEncoding));
  EXPECT_EQ(tx.response().body, "abc");
}

TEST(HttpDecompress, BombStopsAtSizeAndRatio) {
  Limits l;
  l.response_body_limit = 8 << 20;
  l.decompress_limit = 1 << 20;
  l.decompress_ratio = 2048;
  Harness h(l);
  // gzip of gzip of 16 MiB of zeros: a few hundred bytes on the wire.
  const std::string bomb = gzip(gzip(std::string(16 << 20, '\0')));
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: " +
        std::to_string(bomb.size()) + "\r\n\r\n" + bomb);
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kCompressionBomb));
  EXPECT_TRUE(tx.response().body_truncated);
  EXPECT_LE(tx.response().body.size(), (1u << 20) + 8192);
  EXPECT_EQ(h.anomaly(Anomaly::kCompressionBomb), 1u);
}

TEST(HttpDecompress, BodyLimitStopsDecoding) {
  Limits l;
  l.response_body_limit = 100;
  Harness h(l);
  const std::string gz = gzip(std::string(10000, 'a'));
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
        std::to_string(gz.size()) + "\r\n\r\n" + gz);
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_EQ(tx.response().body, std::string(100, 'a'));
  EXPECT_TRUE(tx.response().body_truncated);
  EXPECT_FALSE(tx.anomalies & bit(Anomaly::kCompressionBomb));
}

TEST(HttpDecompress, DecoderResultDoesNotDependOnSegmentation) {
  std::string text;
  for (int i = 0; text.size() < 200000; ++i)
    text += "line " + std::to_string(i * 7919 % 1000) + "\n";
  const std::string inputs[] = {gzip(text), compress(text, -15),
                                gzip(gzip(std::string(8 << 20, 'a'))),
                                "\x1f\x8b\x08garbage" + std::string(100, 'x')};
  const Coding two[] = {Coding::kGzip, Coding::kGzip};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    const std::span<const Coding> codings(two, i == 2 ? 2 : 1);
    std::string reference;
    BodyDecoder::Result reference_result{};
    for (const size_t piece : {size_t{0}, size_t{1}, size_t{7}, size_t{5000}}) {
      BodyDecoder d(codings, 1 << 20, 2048);
      std::string out;
      BodyDecoder::Result r = BodyDecoder::Result::kOk;
      const std::string& in = inputs[i];
      const size_t step = piece == 0 ? in.size() : piece;
      for (size_t at = 0; at < in.size() && r == BodyDecoder::Result::kOk; at += step) {
        r = d.decode(bytes(std::string_view(in).substr(at, step)), out, 4 << 20);
      }
      if (r == BodyDecoder::Result::kOk) r = d.finish(out, 4 << 20);
      if (piece == 0) {
        reference = out;
        reference_result = r;
      } else {
        EXPECT_EQ(out, reference) << "input " << i << " in pieces of " << piece;
        EXPECT_EQ(r, reference_result) << "input " << i;
      }
    }
    if (i < 2) {
      EXPECT_EQ(reference, text);
    } else if (i == 2) {
      EXPECT_EQ(reference_result, BodyDecoder::Result::kBomb);
    }
  }
}

// ---- headers -----------------------------------------------------------------------------------

TEST(HttpHeaders, ObsFoldJoinsWithOneSpace) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: first\r\n   second  \r\n\tthird\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_EQ(tx.request.find("x-folded")->value, "first second third");
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kFoldedHeader));
}

TEST(HttpHeaders, DuplicatesJoinWithCommaSpaceLikeSuricataDocuments) {
  Harness h;
  h.req(
      "GET /test.html HTTP/1.1\r\nUser-Agent: SuriTester/0.8\r\nHost: ABC.com\r\n"
      "Accept: */*\r\nHost: efg.net\r\nUser-Agent: GGGG\r\n\r\n");
  const Buffers b = h.buffers(0, Side::kRequest);
  EXPECT_EQ(b.user_agent, "SuriTester/0.8, GGGG");
  EXPECT_EQ(b.host, "abc.com, efg.net");
  EXPECT_EQ(b.host_raw, "ABC.com, efg.net");
  EXPECT_EQ(b.header,
            "User-Agent: SuriTester/0.8, GGGG\r\nHost: ABC.com, efg.net\r\nAccept: */*\r\n");
  EXPECT_EQ(b.header_names, "\r\nUser-Agent\r\nHost\r\nAccept\r\n\r\n");
  // Message::headers keeps every line as sent.
  EXPECT_EQ(h.complete(0, Side::kRequest).request.headers.size(), 5u);
}

TEST(HttpHeaders, LineWithoutColonAndBadNamesAreFlagged) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\nContent-Length : 2\r\n\r\nab");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidHeader));
  // libhtp trims the name and uses it: the body is framed by it.
  EXPECT_EQ(tx.request.body, "ab");
  EXPECT_EQ(tx.request.headers[1].name, "");
  EXPECT_EQ(tx.request.headers[1].value, "no colon here");
}

TEST(HttpHeaders, HeaderLimitIsEnforcedAndTheMessageStillParses) {
  Limits l;
  l.header_limit = 100;
  Harness h(l);
  h.req("GET /x HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(5000, 'p') +
        "\r\nX-After: 1\r\n\r\nGET /y HTTP/1.1\r\nHost: b\r\n\r\n");
  const Transaction& x = h.complete(0, Side::kRequest);
  EXPECT_TRUE(x.anomalies & bit(Anomaly::kHeaderLimit));
  EXPECT_EQ(x.request.headers.size(), 1u);  // Host kept; X-Pad and what follows dropped
  EXPECT_LE(x.request.headers_raw.size(), 100u);
  EXPECT_EQ(h.complete(1, Side::kRequest).request.uri_raw, "/y");
}

TEST(HttpHeaders, OverlongRequestLineIsCutAndFlagged) {
  Limits l;
  l.header_limit = 64;
  Harness h(l);
  h.req("GET /" + std::string(1000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kHeaderLimit));
  EXPECT_EQ(tx.request.line.size(), 64u);
  EXPECT_EQ(tx.request.method, "GET");
}

TEST(HttpHeaders, TooManyFieldsAreDropped) {
  Limits l;
  l.header_limit = 1 << 20;
  Harness h(l);
  std::string r = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 1100; ++i) r += "a: b\r\n";
  h.req(r + "\r\n");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_EQ(tx.request.headers.size(), 1024u);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kHeaderLimit));
}

TEST(HttpHeaders, BareLfLineEndingsAreAccepted) {
  Harness h;
  h.req("GET /lf HTTP/1.1\nHost: a\nUser-Agent: x\n\n");
  h.res("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_EQ(tx.request.find("user-agent")->value, "x");
  EXPECT_EQ(tx.response().body, "ok");
  EXPECT_EQ(tx.anomalies, 0u);
}

// ---- special responses ---------------------------------------------------------------------

TEST(HttpParser, InterimResponsesDoNotConsumeTheTransaction) {
  Harness h;
  h.req("POST /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  h.res("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n");
  EXPECT_EQ(h.rec.count(Side::kResponse, Event::kHeaders), 0u);
  h.req("data");
  h.res("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_EQ(tx.response().status_code, "201");
  EXPECT_EQ(tx.request.body, "data");
  EXPECT_EQ(h.counter(HttpCounter::kInterimResponses), 2u);
  EXPECT_EQ(h.counter(HttpCounter::kResponses), 1u);
  EXPECT_EQ(h.counter(HttpCounter::kTransactions), 1u);
}

TEST(HttpParser, HeadAnd204And304HaveNoBody) {
  Harness h;
  h.req(
      "HEAD /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /c HTTP/1.1\r\nHost: a\r\n\r\nGET /d HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res(
      "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nTransfer-Encoding: chunked\r\n\r\n"
      "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nD");
  EXPECT_EQ(h.complete(0, Side::kResponse).response().body, "");
  EXPECT_EQ(h.complete(1, Side::kResponse).response().status_code, "204");
  EXPECT_EQ(h.complete(2, Side::kResponse).response().status_code, "304");
  EXPECT_EQ(h.complete(3, Side::kResponse).response().body, "D");
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(HttpParser, AcceptedConnectBecomesATunnel) {
  Harness h;
  h.req("CONNECT mail.example.com:443 HTTP/1.1\r\nHost: mail.example.com:443\r\n\r\n");
  h.req("\x16\x03\x01\x00\xa5 client hello"s);  // before the answer: held
  EXPECT_FALSE(h.parser.tunnel());
  h.res("HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 server hello");
  EXPECT_TRUE(h.parser.tunnel());
  h.req("GET /not-parsed HTTP/1.1\r\n\r\n");
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 1u);
  EXPECT_EQ(h.counter(HttpCounter::kTunnels), 1u);
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_EQ(tx.uri, "");  // an authority target has no path
  EXPECT_EQ(tx.host, "mail.example.com");
  EXPECT_TRUE(tx.host_from_uri);
  EXPECT_EQ(tx.anomalies, 0u);
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(HttpParser, RefusedConnectParsesWhatTheClientSentMeanwhile) {
  Harness h;
  h.req("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 1u);  // held until the answer
  h.res("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(h.parser.tunnel());
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 2u);
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(h.complete(1, Side::kResponse).request.uri_raw, "/next");
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(HttpParser, ConnectHoldIsBounded) {
  Limits l;
  l.header_limit = 128;
  Harness h(l);
  h.req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n" + std::string(10000, 'x'));
  EXPECT_LT(h.parser.memory_bytes(), 4096u);
  EXPECT_EQ(h.anomaly(Anomaly::kConnectDataDropped), 1u);
  h.res("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");  // resumes with a resync
  h.req("\r\nGET /z HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 2u);
}

TEST(HttpParser, SwitchingProtocolsStopsParsing) {
  Harness h;
  h.req("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  h.res("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello");
  EXPECT_TRUE(h.parser.tunnel());
  EXPECT_EQ(h.counter(HttpCounter::kTunnels), 1u);
  EXPECT_EQ(h.complete(0, Side::kResponse).response().status_code, "101");
  h.req("\x81\x85 masked");
  h.parser.on_end();
  EXPECT_EQ(h.counter(HttpCounter::kTransactions), 1u);
}

TEST(HttpParser, Http09SimpleRequestAndRawResponse) {
  Harness h;
  h.req("GET /path\r\n");
  const Transaction& req = h.complete(0, Side::kRequest);
  EXPECT_TRUE(req.http09);
  EXPECT_EQ(req.request.protocol, "");
  EXPECT_EQ(req.uri, "/path");
  h.res("<html>no status line\r\n\r\nHTTP/1.1 200 OK is just text</html>");
  h.req("GET /more HTTP/1.1\r\n\r\n");  // not parsed after a simple request
  h.parser.on_end();
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_EQ(tx.response().body, "<html>no status line\r\n\r\nHTTP/1.1 200 OK is just text</html>");
  EXPECT_TRUE(tx.response().line.empty());
  EXPECT_EQ(h.counter(HttpCounter::kRequestsHttp09), 1u);
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 1u);
  EXPECT_EQ(h.anomaly(Anomaly::kDataAfterHttp09), 1u);
  const Buffers b = h.buffers(0, Side::kResponse);
  EXPECT_FALSE(b.has(BufferField::kStatCode));
  EXPECT_TRUE(b.has(BufferField::kResponseBody));
  EXPECT_FALSE(b.has(BufferField::kProtocol));
}

TEST(HttpParser, NonHttpResponseIsReadAsABodyToTheClose) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("garbage\r\nmore");
  h.parser.on_end();
  const Transaction& tx = h.complete(0, Side::kResponse);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidResponseLine));
  EXPECT_EQ(tx.response().body, "garbage\r\nmore");
}

TEST(HttpParser, GarbageRequestLinesAreSkippedToTheNextRequest) {
  Harness h;
  h.req("\x16\x03\x01\x02\x00 binary\r\n!!! nonsense\r\nPOST /real HTTP/1.1\r\nHost: a\r\n\r\n"s);
  EXPECT_EQ(h.anomaly(Anomaly::kInvalidRequestLine), 1u);
  EXPECT_EQ(h.complete(0, Side::kRequest).request.uri_raw, "/real");
}

TEST(HttpParser, InvalidProtocolAndStatusCodeAreFlagged) {
  Harness h;
  h.req("GET /uid=0(root) gid=0(root) HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 2x0 Odd\r\nContent-Length: 0\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kResponse);
  // Suricata documents this very request: uri.raw has no spaces, the rest is the protocol.
  EXPECT_EQ(tx.request.uri_raw, "/uid=0(root)");
  EXPECT_EQ(tx.request.protocol, "gid=0(root) HTTP/1.1");
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidProtocol));
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidStatusCode));
}

TEST(HttpParser, TooManyTransactionsKeepsPairingRight) {
  Limits l;
  l.max_transactions = 4;
  Harness h(l);
  for (int i = 0; i < 10; ++i) h.req("GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(h.parser.transactions_held(), 4u);
  EXPECT_EQ(h.anomaly(Anomaly::kTooManyTransactions), 6u);
  for (int i = 0; i < 10; ++i) {
    h.res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + std::to_string(i));
  }
  // The answers to the dropped requests came first; the last four pair with /6 .. /9.
  for (uint64_t id = 6; id < 10; ++id) {
    const Transaction& tx = h.complete(id, Side::kResponse);
    EXPECT_EQ(tx.request.uri_raw, "/" + std::to_string(id));
    EXPECT_EQ(tx.response().body, std::to_string(id));
  }
  EXPECT_EQ(h.parser.transactions_held(), 0u);
  h.parser.on_end();
}

TEST(HttpParser, UnansweredRequestsStayBounded) {
  Harness h;
  for (int i = 0; i < 5000; ++i) h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(h.parser.transactions_held(), 512u);
  h.parser.on_end();
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

// ---- gaps and the end of the flow -------------------------------------------------------------

TEST(HttpParser, GapTruncatesAndResyncs) {
  Harness h;
  h.req("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nstart");
  h.parser.on_gap(Side::kRequest);
  h.req("ody continues\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  const Transaction& a = h.complete(0, Side::kRequest);
  EXPECT_TRUE(a.request.truncated);
  EXPECT_TRUE(a.anomalies & bit(Anomaly::kGap));
  EXPECT_EQ(a.request.body, "start");
  EXPECT_EQ(h.complete(1, Side::kRequest).request.uri_raw, "/b");
  EXPECT_EQ(h.counter(HttpCounter::kGaps), 1u);
}

TEST(HttpParser, GapResyncFindsStartLinesGluedToLostBodies) {
  Harness h;
  h.req("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n012");
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n<html>");
  h.parser.on_gap(Side::kRequest);
  h.parser.on_gap(Side::kResponse);
  // The rest of each body, and the next message right after it on the same line.
  h.req("89PUT /c HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  h.res("</html>HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  const Transaction& a = h.complete(0, Side::kResponse);
  EXPECT_TRUE(a.request.truncated);
  EXPECT_TRUE(a.response().truncated);
  const Transaction& c = h.complete(1, Side::kResponse);
  EXPECT_EQ(c.request.line, "PUT /c HTTP/1.1");
  EXPECT_EQ(c.response().status_code, "201");
  EXPECT_EQ(c.anomalies, 0u);
  EXPECT_EQ(h.counter(HttpCounter::kGaps), 2u);
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(HttpParser, GapResyncIgnoresLinesThatOnlyLookHalfRight) {
  Harness h;
  h.req("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
  h.parser.on_gap(Side::kRequest);
  h.req("xx FOOBAR /x HTTP/1.1\r\nsee GET / and HTTP/1.1 in text\r\n" + std::string(300, 'y') +
        " GET /far HTTP/1.1\r\n\r\nGET /real HTTP/1.1\r\n\r\n");
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 3u);  // /a, /far (in the window), /real
  EXPECT_EQ(h.complete(1, Side::kRequest).request.uri_raw, "/far");
  EXPECT_EQ(h.complete(2, Side::kRequest).request.uri_raw, "/real");
}

TEST(HttpParser, GapInHeadersStillReportsThem) {
  Harness h;
  h.req("GET /a HTTP/1.1\r\nHost: a\r\nUser-Ag");
  h.parser.on_gap(Side::kRequest);
  const Transaction& a = h.complete(0, Side::kRequest);
  EXPECT_NE(h.rec.find(0, Side::kRequest, Event::kHeaders), nullptr);
  EXPECT_TRUE(a.request.headers_done);
  EXPECT_EQ(a.host, "a");
}

TEST(HttpParser, FlowEndTruncatesOpenMessagesAndReleasesAll) {
  Harness h;
  h.req(
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: "
      "9\r\n\r\nab");
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxyz");
  h.parser.on_end();
  EXPECT_TRUE(h.complete(0, Side::kResponse).response().truncated);
  EXPECT_TRUE(h.complete(1, Side::kRequest).anomalies & bit(Anomaly::kTruncated));
  EXPECT_EQ(h.parser.transactions_held(), 0u);
  h.req("GET / HTTP/1.1\r\n\r\n");  // after the end: ignored
  EXPECT_EQ(h.counter(HttpCounter::kRequests), 2u);
}

TEST(HttpParser, IdleParserHoldsLittleMemory) {
  Harness h;
  const size_t idle = h.parser.memory_bytes();
  EXPECT_LT(idle, 1024u);
  h.req("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(5000, 'x') + "\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(h.parser.transactions_held(), 0u);
  EXPECT_LT(h.parser.memory_bytes(), idle + 2048);  // no line buffer kept at its high-water mark
  h.req("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n" + std::string(3000, 'y'));
  h.parser.on_end();
  EXPECT_EQ(h.parser.memory_bytes(), idle);
}

TEST(HttpParser, RequestAwaitingItsAnswerKeepsOnlyWhatTheAnswerReads) {
  Harness h;
  const size_t idle = h.parser.memory_bytes();
  h.req(
      "GET /a?b=1 HTTP/1.1\r\nHost: www.example.com:8080\r\nUser-Agent: UA/1\r\n"
      "Referer: http://r.example/\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n"
      "Accept-Language: en\r\nConnection: keep-alive\r\nCookie: " +
      std::string(900, 'c') + "\r\nX-Padding: " + std::string(900, 'p') + "\r\n\r\n");
  // The request's own inspection saw all of it.
  const Buffers at_request = h.buffers(0, Side::kRequest);
  EXPECT_EQ(at_request.get(BufferField::kCookie).size(), 900u);
  EXPECT_GT(at_request.get(BufferField::kHeaderRaw).size(), 1800u);
  EXPECT_GT(at_request.get(BufferField::kStart).size(), 1800u);
  // Waiting for the answer, the copies of the header block (http.start, http.header,
  // http.header.raw) and the fields only the request stage reads are gone: 5.5 KB otherwise. (What
  // is left: the kept fields, and the line buffer at the 908-byte Cookie line's size.)
  ASSERT_EQ(h.parser.transactions_held(), 1u);
  EXPECT_LT(h.parser.memory_bytes(), idle + sizeof(Transaction) + 1536);

  h.res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const Buffers b = h.buffers(0, Side::kResponse);
  EXPECT_EQ(b.get(BufferField::kUri), "/a?b=1");
  EXPECT_EQ(b.get(BufferField::kMethod), "GET");
  EXPECT_EQ(b.get(BufferField::kRequestLine), "GET /a?b=1 HTTP/1.1");
  EXPECT_EQ(b.get(BufferField::kHost), "www.example.com");
  EXPECT_EQ(b.get(BufferField::kHostRaw), "www.example.com:8080");
  EXPECT_EQ(b.get(BufferField::kUserAgent), "UA/1");
  EXPECT_EQ(b.get(BufferField::kReferer), "http://r.example/");
  EXPECT_EQ(b.get(BufferField::kAccept), "*/*");
  EXPECT_EQ(b.get(BufferField::kAcceptEnc), "gzip");
  EXPECT_EQ(b.get(BufferField::kAcceptLang), "en");
  EXPECT_EQ(b.get(BufferField::kConnection), "keep-alive");
  // The buffers both directions have are the answer's at its stage.
  EXPECT_EQ(b.get(BufferField::kStart), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(b.has(BufferField::kCookie));
  const Transaction& tx = h.complete(0, Side::kResponse);
  ASSERT_NE(tx.request.find("Host"), nullptr);  // the EVE record's hostname and port
  EXPECT_EQ(tx.request.find("Cookie"), nullptr);
}

TEST(HttpParser, RequestsWaitingForAnswersParkOutsideADroppedParser) {
  Harness h;
  h.req("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(h.parser.parkable());
  EXPECT_FALSE(h.parser.idle());
  std::list<Transaction> parked = h.parser.park();
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_TRUE(h.parser.idle());
  // A parser built anew takes them back: the answers pair in order and numbering goes on.
  Parser rebuilt(h.limits, h.rec, h.counters);
  rebuilt.set_next_tx_id(h.parser.next_tx_id());
  rebuilt.unpark(std::move(parked));
  rebuilt.parse(Side::kResponse, bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                                       "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
  const Transaction& first = h.complete(0, Side::kResponse);
  EXPECT_EQ(first.request.uri_raw, "/a");
  EXPECT_EQ(first.response().status_code, "200");
  const Transaction& second = h.complete(1, Side::kResponse);
  EXPECT_EQ(second.request.uri_raw, "/b");
  EXPECT_EQ(second.response().status_code, "404");
  EXPECT_EQ(rebuilt.transactions_held(), 0u);
  rebuilt.parse(Side::kRequest, bytes("GET /c HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(h.rec.find(2, Side::kRequest, Event::kComplete), nullptr);
}

TEST(HttpParser, OnlyCompleteRequestsWaitingForTheirAnswersPark) {
  Harness body;
  body.req("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n12");
  EXPECT_FALSE(body.parser.parkable());  // the body is still coming
  body.req("345");
  EXPECT_TRUE(body.parser.parkable());
  body.req("GET /b HT");
  EXPECT_FALSE(body.parser.parkable());  // a line begun
  Harness connect;
  connect.req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_FALSE(connect.parser.parkable());  // what follows depends on the answer
  Harness answering;
  answering.req("GET / HTTP/1.1\r\n\r\n");
  answering.res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
  EXPECT_FALSE(answering.parser.parkable());  // an answer under way
  answering.res("cde");
  EXPECT_TRUE(answering.parser.idle());
}

// ---- body limits -----------------------------------------------------------------------------

TEST(HttpParser, BodyLimitKeepsThePrefixAndCountsAll) {
  Limits l;
  l.request_body_limit = 4;
  Harness h(l);
  h.req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_EQ(tx.request.body, "0123");
  EXPECT_EQ(tx.request.body_bytes, 10u);
  EXPECT_TRUE(tx.request.body_truncated);
  EXPECT_EQ(h.counter(HttpCounter::kBodyBytes), 4u);
}

TEST(HttpParser, IdleOnlyBetweenMessagesAndARebuiltParserNumbersOn) {
  Harness h;
  EXPECT_TRUE(h.parser.idle());
  h.req("GET /a HTTP/1.1\r\nHost: a\r\n");
  EXPECT_FALSE(h.parser.idle());  // inside the header block
  h.req("\r\n");
  EXPECT_FALSE(h.parser.idle());  // the transaction awaits its response
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no");
  EXPECT_FALSE(h.parser.idle());  // inside the body
  h.res("k");
  EXPECT_TRUE(h.parser.idle());
  EXPECT_EQ(h.parser.next_tx_id(), 1u);
  Recorder rec;
  core::Counters<HttpCounter> counters{http_counter_group()};
  Parser next(Limits{}, rec, counters);
  next.set_next_tx_id(h.parser.next_tx_id());
  next.parse(Side::kRequest, bytes("GET /b HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_NE(rec.find(1, Side::kRequest, Event::kComplete), nullptr);
}

TEST(HttpParser, ReachingTheBodyLimitIsAnnouncedOnceBeforeTheMessageEnds) {
  Limits l;
  l.response_body_limit = 4;
  Harness h(l);
  h.req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.res("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n01");
  EXPECT_EQ(h.rec.count(Side::kResponse, Event::kBodyLimit), 0u);
  h.res("2345");
  ASSERT_EQ(h.rec.count(Side::kResponse, Event::kBodyLimit), 1u);
  EXPECT_EQ(h.rec.count(Side::kResponse, Event::kComplete), 0u);  // 94 bytes still to come
  const Record* at_limit = h.rec.find(0, Side::kResponse, Event::kBodyLimit);
  ASSERT_NE(at_limit, nullptr);
  EXPECT_EQ(at_limit->tx.response().body, "0123");
  h.res(std::string(94, 'x'));
  EXPECT_EQ(h.rec.count(Side::kResponse, Event::kBodyLimit), 1u);
  EXPECT_EQ(h.rec.count(Side::kResponse, Event::kComplete), 1u);
}

// ---- buffers ---------------------------------------------------------------------------------

TEST(HttpBuffers, RequestBuffersFollowSuricataLayouts) {
  Harness h;
  const std::string head =
      "Host: Example.COM:8080\r\nUser-Agent: UA1\r\nCookie: a=b\r\nUser-Agent: UA2\r\n"
      "Accept: */*\r\nAccept-Encoding: gzip\r\nAccept-Language: en\r\nReferer: http://r/\r\n"
      "Connection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n";
  h.req("POST /a/./b/../c%20d?x=%41+y HTTP/1.1\r\n" + head + "abc");
  const Buffers b = h.buffers(0, Side::kRequest);
  EXPECT_EQ(b.uri, "/a/c d?x=A+y");
  EXPECT_EQ(b.uri_raw, "/a/./b/../c%20d?x=%41+y");
  EXPECT_EQ(b.method, "POST");
  EXPECT_EQ(b.protocol, "HTTP/1.1");
  EXPECT_EQ(b.request_line, "POST /a/./b/../c%20d?x=%41+y HTTP/1.1");
  EXPECT_EQ(b.host, "example.com");
  EXPECT_EQ(b.host_raw, "Example.COM:8080");
  EXPECT_EQ(b.user_agent, "UA1, UA2");
  EXPECT_EQ(b.cookie, "a=b");
  EXPECT_EQ(b.accept, "*/*");
  EXPECT_EQ(b.accept_enc, "gzip");
  EXPECT_EQ(b.accept_lang, "en");
  EXPECT_EQ(b.referer, "http://r/");
  EXPECT_EQ(b.connection, "keep-alive");
  EXPECT_EQ(b.content_type, "text/plain");
  EXPECT_EQ(b.content_len, "3");
  EXPECT_EQ(b.request_body, "abc");
  // http.header: every field but Cookie, "Name: value\r\n", repeats combined, no closing CRLF.
  EXPECT_EQ(b.header,
            "Host: Example.COM:8080\r\nUser-Agent: UA1, UA2\r\nAccept: */*\r\n"
            "Accept-Encoding: gzip\r\nAccept-Language: en\r\nReferer: http://r/\r\n"
            "Connection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n");
  EXPECT_EQ(b.header_raw, head);
  // http.start: line, CRLF, all fields (Cookie too), closing empty line.
  EXPECT_EQ(b.start,
            "POST /a/./b/../c%20d?x=%41+y HTTP/1.1\r\nHost: Example.COM:8080\r\n"
            "User-Agent: UA1, UA2\r\nCookie: a=b\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n"
            "Accept-Language: en\r\nReferer: http://r/\r\nConnection: keep-alive\r\n"
            "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(b.header_names,
            "\r\nHost\r\nUser-Agent\r\nCookie\r\nAccept\r\nAccept-Encoding\r\nAccept-Language\r\n"
            "Referer\r\nConnection\r\nContent-Type\r\nContent-Length\r\n\r\n");
  EXPECT_FALSE(b.has(BufferField::kStatCode));
  EXPECT_FALSE(b.has(BufferField::kResponseBody));
  EXPECT_TRUE(present(b, &Buffers::uri));
  EXPECT_FALSE(present(b, &Buffers::location));
}

TEST(HttpBuffers, ResponseBuffersFollowSuricataLayouts) {
  Harness h;
  h.req("GET / HTTP/1.1\r\nHost: a\r\nCookie: c=1\r\n\r\n");
  h.res(
      "HTTP/1.1 302 Found\r\nLocation: /x\r\nServer: nginx\r\nSet-Cookie: s=1\r\n"
      "Set-Cookie: t=2\r\nContent-Length: 3\r\nContent-Type: text/html\r\n\r\nabc");
  const Buffers b = h.buffers(0, Side::kResponse);
  EXPECT_EQ(b.response_line, "HTTP/1.1 302 Found");
  EXPECT_EQ(b.stat_code, "302");
  EXPECT_EQ(b.stat_msg, "Found");
  EXPECT_EQ(b.location, "/x");
  EXPECT_EQ(b.server, "nginx");
  EXPECT_EQ(b.cookie, "s=1, t=2");  // Set-Cookie when inspecting the response
  EXPECT_EQ(b.protocol, "HTTP/1.1");
  EXPECT_EQ(b.content_len, "3");
  EXPECT_EQ(b.content_type, "text/html");
  EXPECT_EQ(b.header,
            "Location: /x\r\nServer: nginx\r\nContent-Length: 3\r\nContent-Type: text/html\r\n");
  EXPECT_EQ(b.start,
            "HTTP/1.1 302 Found\r\nLocation: /x\r\nServer: nginx\r\nSet-Cookie: s=1, t=2\r\n"
            "Content-Length: 3\r\nContent-Type: text/html\r\n\r\n");
  EXPECT_EQ(b.response_body, "abc");
  // Request-only buffers are still there at the response stage.
  EXPECT_EQ(b.uri, "/");
  EXPECT_EQ(b.host, "a");
  // A request with only a Cookie has no http.header.
  const Buffers rq = h.buffers(0, Side::kRequest);
  EXPECT_EQ(rq.header, "Host: a\r\n");
  EXPECT_EQ(rq.cookie, "c=1");
}

TEST(HttpBuffers, AbsoluteTargetGivesHostAndPathOnlyUri) {
  Harness h;
  h.req("GET http://WWW.Example.com.:8080/p/../q?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n");
  const Transaction& tx = h.complete(0, Side::kRequest);
  EXPECT_EQ(tx.uri, "/q?x=1");
  EXPECT_EQ(tx.host, "www.example.com");
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kHostMismatch));
  const Buffers b = h.buffers(0, Side::kRequest);
  EXPECT_EQ(b.host, "www.example.com");
  EXPECT_EQ(b.host_raw, "www.example.com");  // Suricata: the parsed target host, not Host
}

TEST(HttpBuffers, HostMissingIsFlaggedForHttp11Only) {
  Harness h;
  h.req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(h.complete(0, Side::kRequest).anomalies & bit(Anomaly::kHostMissing));
  EXPECT_FALSE(h.complete(1, Side::kRequest).anomalies & bit(Anomaly::kHostMissing));
  EXPECT_FALSE(h.buffers(1, Side::kRequest).has(BufferField::kHost));
}

TEST(HttpBuffers, NamesAndMembersAgree) {
  EXPECT_EQ(buffer_name(BufferField::kUri), "http.uri");
  EXPECT_EQ(buffer_name(BufferField::kHostRaw), "http.host.raw");
  EXPECT_EQ(buffer_name(BufferField::kResponseBody), "http.response_body");
  EXPECT_EQ(field_of(&Buffers::header_names), BufferField::kHeaderNames);
  EXPECT_EQ(field_of(&Buffers::server), BufferField::kServer);
  EXPECT_EQ(anomaly_name(Anomaly::kGap), "gap");
  EXPECT_EQ(http_counter_group().module, "http");
  EXPECT_EQ(http_counter_group().defs[static_cast<size_t>(anomaly_counter(Anomaly::kGap))].name,
            "anomaly.gap");
}

// ---- normalisation ---------------------------------------------------------------------------

std::string norm(std::string_view target, uint32_t* anomalies = nullptr) {
  uint32_t a = 0;
  std::string out = normalize_uri(target, false, a);
  if (anomalies) *anomalies = a;
  return out;
}

TEST(HttpNormalize, PathDecodingLikeLibhtpIdsPersonality) {
  EXPECT_EQ(norm("/a//b\\c"), "/a/b/c");                 // backslash, separator compression
  EXPECT_EQ(norm("/%2e%2e/etc/passwd"), "/etc/passwd");  // decoded then dot segments
  EXPECT_EQ(norm("/a/%2fb%5Cc"), "/a/b/c");              // encoded separators decoded
  EXPECT_EQ(norm("/%u0041%u002e"), "/A.");               // %u, U+00XX is the byte
  EXPECT_EQ(norm("/%uFF0Fx%uff41"), "/xa");              // fullwidth '/' and 'a' (best fit)
  EXPECT_EQ(norm("/caf%C3%A9"), "/caf?");                // UTF-8 best fit: no ASCII form
  EXPECT_EQ(norm("/%c0%af"), "/?");                      // overlong UTF-8 '/' is not a '/'
  EXPECT_EQ(norm("/Mixed/CASE"), "/Mixed/CASE");         // Suricata turns lower-casing off
  EXPECT_EQ(norm("/./a/b/./../c/."), "/a/c/");           // RFC 3986 §5.2.4
  EXPECT_EQ(norm("/../../x"), "/x");
  EXPECT_EQ(norm("*"), "*");
  EXPECT_EQ(norm(""), "");
}

TEST(HttpNormalize, InvalidEscapesKeepThePercentAndAreFlagged) {
  uint32_t a = 0;
  EXPECT_EQ(norm("/%zz%4", &a), "/%zz%4");
  EXPECT_TRUE(a & bit(Anomaly::kInvalidUriEncoding));
  EXPECT_EQ(norm("/%u12", &a), "/%u12");
  EXPECT_EQ(norm("/ok%41", &a), "/okA");
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(norm("/a%00b", &a), std::string("/a\0b", 4));
  EXPECT_TRUE(a & bit(Anomaly::kUriNul));
}

TEST(HttpNormalize, QueryAndFragmentAreDecodedButNotPathNormalised) {
  // The query gets %HH only: no %u, '+' kept, no separator or dot handling.
  EXPECT_EQ(norm("/a?b=%2F%u0041+c/../d#fr%41g"), "/a?b=/%u0041+c/../d#frAg");
  EXPECT_EQ(norm("/a?"), "/a?");
  EXPECT_EQ(norm("/a#"), "/a#");
  EXPECT_EQ(norm("http://h/p?q"), "/p?q");
  EXPECT_EQ(norm("http://user:pw@h:1/p"), "/p");
  EXPECT_EQ(norm("http:///three/slashes"), "/three/slashes");
}

TEST(HttpNormalize, SplitsTargetsLikeLibhtp) {
  UriParts u = split_uri("https://u:p@Host.Example:8443/path?q=1#f");
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.userinfo, "u:p");
  EXPECT_EQ(u.host, "Host.Example");
  EXPECT_EQ(u.port, "8443");
  EXPECT_EQ(u.path, "/path");
  EXPECT_EQ(u.query, "q=1");
  EXPECT_EQ(u.fragment, "f");
  u = split_uri("http://[::1]:80/x");
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.port, "80");
  u = split_uri("//not/authority");  // no scheme: a path
  EXPECT_FALSE(u.has_authority);
  EXPECT_EQ(u.path, "//not/authority");
}

TEST(HttpNormalize, HostIsLowerCaseWithoutPortOrTrailingDot) {
  EXPECT_EQ(normalize_host("Example.COM.:8080"), "example.com");
  EXPECT_EQ(normalize_host(" a.b "), "a.b");
  EXPECT_EQ(normalize_host("[::1]:80"), "[::1]");
  EXPECT_EQ(normalize_host("host.."), "host");
}

TEST(HttpNormalize, FieldHelpers) {
  EXPECT_EQ(parse_content_length(" 42 "), 42u);
  EXPECT_FALSE(parse_content_length("4 2"));
  EXPECT_FALSE(parse_content_length("-1"));
  EXPECT_FALSE(parse_content_length(""));
  EXPECT_FALSE(parse_content_length("99999999999999999999999"));
  EXPECT_TRUE(has_token("gzip, Chunked", "chunked"));
  EXPECT_FALSE(has_token("notchunked", "chunked"));
  EXPECT_TRUE(is_token("X-Custom_1"));
  EXPECT_FALSE(is_token("Bad Name"));
}

}  // namespace
}  // namespace spanguard::applayer::http
