// The EVE printer against protobuf's JSON printer: the same documents for every kind of event,
// except that 64-bit integers are numbers; exact big integers, string escaping, presence rules and
// well-known types.
#include "spanguard/output/json_printer.h"

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "spanguard/events/events.h"

namespace spanguard::output {
namespace {

using events::flow_record;
using events::set_reset;

namespace pb = google::protobuf;

std::string ours(const pb::Message& m) {
  std::string out;
  EXPECT_TRUE(append_json(m, out)) << m.GetDescriptor()->full_name();
  return out;
}

std::string protobufs(const pb::Message& m) {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  EXPECT_TRUE(pb::util::MessageToJsonString(m, &out, options).ok());
  return out;
}

// Strict parse: UTF-8 validated, doubles read exactly.
rapidjson::Document parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag>(json.data(),
                                                                                      json.size());
  EXPECT_FALSE(d.HasParseError()) << rapidjson::GetParseError_En(d.GetParseError()) << " at "
                                  << d.GetErrorOffset() << " in " << json;
  return d;
}

std::string to_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

bool is_64_bit(const pb::FieldDescriptor* f) {
  return f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64 ||
         f->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64;
}

rapidjson::Value as_number(const rapidjson::Value& s, const pb::FieldDescriptor* f) {
  const std::string text = s.GetString();
  if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64) {
    return rapidjson::Value(static_cast<int64_t>(std::stoll(text)));
  }
  return rapidjson::Value(static_cast<uint64_t>(std::stoull(text)));
}

// protobuf's document as ours should be: the 64-bit integers it prints as strings made numbers,
// following the schema (well-known types are left alone: their JSON is not field by field).
void numbers_for_64_bit_strings(rapidjson::Value& v, const pb::Descriptor* d) {
  if (!v.IsObject() || d->well_known_type() != pb::Descriptor::WELLKNOWNTYPE_UNSPECIFIED) return;
  for (auto& member : v.GetObject()) {
    const pb::FieldDescriptor* f = d->FindFieldByName(member.name.GetString());
    ASSERT_NE(f, nullptr) << member.name.GetString();
    auto convert = [&](rapidjson::Value& x) {
      if (is_64_bit(f) && x.IsString()) {
        x = as_number(x, f);
      } else if (f->message_type() != nullptr && !f->is_map()) {
        numbers_for_64_bit_strings(x, f->message_type());
      }
    };
    if (member.value.IsArray()) {
      for (auto& x : member.value.GetArray()) convert(x);
    } else {
      convert(member.value);
    }
  }
}

std::vector<std::string> top_level_keys(const rapidjson::Value& v) {
  std::vector<std::string> keys;
  for (const auto& m : v.GetObject()) keys.emplace_back(m.name.GetString());
  return keys;
}

// Parsed, ours equals protobuf's with its 64-bit strings made numbers (numbers compare by value,
// objects by member whatever the order); fields come in the same order.
void expect_same_document(const pb::Message& m) {
  SCOPED_TRACE(m.GetDescriptor()->full_name());
  const std::string mine = ours(m), theirs_text = protobufs(m);
  rapidjson::Document a = parse(mine), b = parse(theirs_text);
  ASSERT_TRUE(a.IsObject()) << mine;
  numbers_for_64_bit_strings(b, m.GetDescriptor());
  EXPECT_TRUE(a == b) << "ours:     " << mine << "\nprotobuf: " << theirs_text
                      << "\nexpected: " << to_text(b);
  EXPECT_EQ(top_level_keys(a), top_level_keys(b)) << mine;
}

flow::Flow make_flow() {
  flow::Flow f;
  f.key.family = 4;
  f.key.proto = 6;
  const uint8_t server[4] = {198, 51, 100, 2}, client[4] = {198, 51, 100, 9};
  std::memcpy(f.key.addr[0].data(), server, 4);
  std::memcpy(f.key.addr[1].data(), client, 4);
  f.key.port[0] = 443;
  f.key.port[1] = 50000;
  f.client_is_first = false;
  f.flow_id = (uint64_t{1} << 51) - 1;
  f.parent_flow_id = 12345;
  f.first_seen = core::timestamp_from_ns(1'713'693'600'000'000'000);
  f.last_seen = core::timestamp_from_ns(1'713'693'605'500'000'000);
  f.packets[0] = 7;
  f.bytes[0] = 5'000'000'000;  // beyond 32 bits
  f.endpoint[0].vlan_count = 2;
  f.endpoint[0].vlan_ids[0] = 100;
  f.endpoint[0].vlan_ids[1] = 200;
  return f;
}

respond::ResetSummary make_reset() {
  respond::ResetSummary s;
  s.attempted = true;
  s.side[0] = {.packets = 3, .follow_ups = 1, .outcome = respond::Outcome::kReset};
  s.side[1] = {.packets = 0, .follow_ups = 0, .outcome = respond::Outcome::kNotAttempted};
  return s;
}

void set_metadata(v1::AlertInfo* info) {
  auto& fields = *info->mutable_metadata()->mutable_fields();
  fields["signature_severity"].mutable_list_value()->add_values()->set_string_value("Major");
  fields["attack_target"].mutable_list_value()->add_values()->set_string_value("Client_Endpoint");
  auto* deployment = fields["deployment"].mutable_list_value();
  deployment->add_values()->set_string_value("Perimeter");
  deployment->add_values()->set_string_value("Internal");
  fields["confidence"].set_number_value(0.75);
  fields["former_sid"].set_number_value(2019001);
  fields["reviewed"].set_bool_value(false);
  fields["expires"].set_null_value(pb::NULL_VALUE);
  (*fields["nested"].mutable_struct_value()->mutable_fields())["a"].set_string_value("b");
}

void set_rule(v1::AlertInfo* info) {
  info->set_action("blocked");
  info->set_gid(1);
  info->set_signature_id(2019001);
  info->set_rev(0);  // optional: printed although zero
  info->set_signature("ET WEB_SERVER \"UNION SELECT\" in URI \\ attempt");
  info->set_category("Web Application Attack");
  info->set_severity(1);
  set_metadata(info);
}

void set_http(v1::HttpInfo* http) {
  http->set_hostname("www.example.com");
  http->set_http_port(8080);
  http->set_url("/index.php?id=1%20UNION%20SELECT");
  http->set_http_user_agent("Mozilla/5.0 (X11; Linux x86_64)");
  http->set_http_content_type("text/html");
  http->set_http_method("GET");
  http->set_protocol("HTTP/1.1");
  http->set_status(200);
  http->set_length(0);
}

v1::Alert make_alert() {
  v1::Alert a;
  a.set_timestamp("2024-04-21T10:00:00.123456+0000");
  a.set_flow_id(static_cast<double>((uint64_t{1} << 49) - 3));
  a.set_event_type("alert");
  a.set_src_ip("198.51.100.9");
  a.set_src_port(50000);
  a.set_dest_ip("2001:db8::1");
  a.set_dest_port(0);  // optional: printed although zero
  a.set_proto("TCP");
  a.add_vlan(100);
  set_rule(a.mutable_alert());
  a.set_app_proto("http");
  a.set_seq(9'007'199'254'740'993);  // 2^53 + 1: not exact in a double
  constexpr char kPayload[] = "GET /\x00\xff\x80 HTTP/1.1\r\n";
  a.set_payload(std::string(kPayload, sizeof kPayload - 1));
  set_reset(a.mutable_reset(), make_reset());
  set_http(a.mutable_http());
  a.set_tx_id(0);
  a.set_host("sensor-a");
  a.set_run_id("run-1");
  return a;
}

v1::AppRecord make_tls_record() {
  v1::AppRecord r;
  r.set_timestamp("2024-04-21T10:00:01.000000+0000");
  r.set_flow_id(42);
  r.set_event_type("tls");
  r.set_src_ip("198.51.100.9");
  r.set_src_port(50001);
  r.set_dest_ip("203.0.113.5");
  r.set_dest_port(443);
  r.set_proto("TCP");
  r.set_tx_id(0);
  r.set_seq(7);
  v1::TlsInfo* tls = r.mutable_tls();
  tls->set_sni("example.com");
  tls->set_version("TLS 1.3");
  tls->set_subject("C=US, O=Example, CN=example.com");
  tls->set_issuerdn("C=US, O=Example CA");
  tls->set_serial("0A:E1:E6");
  tls->set_fingerprint("4a:a3:66:00");
  tls->set_notbefore("2024-04-21T10:00:00");
  tls->set_notafter("2025-04-21T10:00:00");
  tls->mutable_ja3()->set_hash("e7d705a3286e19ea42f587b344ee6865");
  tls->mutable_ja3()->set_string("771,4865-4866,0-23,29-23,0");
  tls->mutable_ja3s();  // set, empty: printed as {}
  tls->set_ja4("t13d1516h2_8daaf6152771_b186095e22b6");
  tls->set_session_resumed(false);
  tls->add_client_alpns("h2");
  tls->add_client_alpns("http/1.1");
  return r;
}

v1::AppRecord make_dns_record() {
  v1::AppRecord r;
  r.set_timestamp("2024-04-21T10:00:02.000000+0000");
  r.set_flow_id(43);
  r.set_event_type("dns");
  r.set_src_ip("203.0.113.53");
  r.set_src_port(53);
  r.set_dest_ip("198.51.100.9");
  r.set_dest_port(40000);
  r.set_proto("UDP");
  r.set_seq(8);
  v1::DnsInfo* dns = r.mutable_dns();
  dns->set_version(3);
  dns->set_type("response");
  dns->set_id(0);
  dns->set_flags("8180");
  dns->set_qr(true);
  dns->set_rd(true);
  dns->set_ra(true);
  dns->set_aa(false);
  dns->set_tc(false);
  dns->set_opcode(0);
  dns->set_rcode("NOERROR");
  auto* q = dns->add_queries();
  q->set_rrname("xn--bcher-kva.example");
  q->set_rrtype("A");
  auto* answer = dns->add_answers();
  answer->set_rrname("xn--bcher-kva.example");
  answer->set_rrtype("A");
  answer->set_ttl(0);
  answer->set_rdata("192.0.2.1");
  dns->add_answers()->set_rrtype("TXT");  // rrname and rdata empty: omitted
  return r;
}

std::vector<std::unique_ptr<pb::Message>> representative_events() {
  std::vector<std::unique_ptr<pb::Message>> events;
  events.push_back(std::make_unique<v1::Alert>(make_alert()));

  auto flow = flow_record(make_flow(), flow::EndReason::kEvicted);
  flow.set_seq(3);
  events.push_back(std::make_unique<v1::FlowRecord>(flow));
  auto udp = flow_record(make_flow(), flow::EndReason::kTimeout);
  udp.mutable_flow()->set_age(0.5);
  udp.mutable_flow()->set_bytes_toclient(1e20);  // beyond 2^63: not an integer literal
  events.push_back(std::make_unique<v1::FlowRecord>(udp));

  v1::AppRecord http;
  http.set_timestamp("2024-04-21T10:00:00.500000+0000");
  http.set_flow_id(41);
  http.set_event_type("http");
  http.set_src_ip("198.51.100.9");
  http.set_src_port(50000);
  http.set_dest_ip("203.0.113.5");
  http.set_dest_port(80);
  http.set_proto("TCP");
  http.set_tx_id(2);
  set_http(http.mutable_http());
  http.set_seq(5);
  events.push_back(std::make_unique<v1::AppRecord>(http));
  events.push_back(std::make_unique<v1::AppRecord>(make_tls_record()));
  events.push_back(std::make_unique<v1::AppRecord>(make_dns_record()));

  v1::ResetReport report;
  report.set_timestamp("2024-04-21T10:00:03.000000+0000");
  report.set_flow_id(44);
  report.set_event_type("reset");
  report.set_src_ip("198.51.100.9");
  report.set_src_port(50000);
  report.set_dest_ip("203.0.113.5");
  report.set_dest_port(80);
  report.set_proto("TCP");
  set_rule(report.mutable_alert());
  report.set_alert_seq(1);
  set_reset(report.mutable_reset(), make_reset());
  report.set_seq(uint64_t{1} << 60);
  report.set_host("sensor-a");
  report.set_run_id("run-1");
  events.push_back(std::make_unique<v1::ResetReport>(report));

  v1::Stats stats;
  stats.set_timestamp("2024-04-21T10:01:00.000000+0000");
  auto* c = stats.add_counters();
  c->set_name("capture.kernel_packets");
  c->set_value(123'456'789'012);
  stats.add_counters()->set_name("decode.invalid");  // zero: value omitted
  events.push_back(std::make_unique<v1::Stats>(stats));

  v1::Heartbeat heartbeat;
  heartbeat.set_timestamp("2024-04-21T10:01:00.000000+0000");
  heartbeat.add_counters()->set_value(1);
  heartbeat.set_alerts_dropped(5'000'000'000);
  events.push_back(std::make_unique<v1::Heartbeat>(heartbeat));

  v1::Envelope envelope;
  *envelope.mutable_alert() = make_alert();
  events.push_back(std::make_unique<v1::Envelope>(envelope));
  v1::Envelope hello;
  hello.mutable_hello();  // a oneof member, set and empty
  events.push_back(std::make_unique<v1::Envelope>(hello));
  v1::Envelope ack;
  ack.mutable_ack()->set_run_id("run-1");
  ack.mutable_ack()->set_seq(99);
  events.push_back(std::make_unique<v1::Envelope>(ack));
  return events;
}

TEST(JsonPrinter, EveryEventIsProtobufsDocumentWith64BitIntegersAsNumbers) {
  for (const auto& event : representative_events()) expect_same_document(*event);
}

TEST(JsonPrinter, SixtyFourBitIntegersAreExactIntegerLiterals) {
  v1::Counter c;
  c.set_name("x");
  c.set_value(18446744073709551615u);
  EXPECT_EQ(ours(c), R"({"name":"x","value":18446744073709551615})");
  const v1::Alert a = make_alert();
  EXPECT_NE(ours(a).find(R"("seq":9007199254740993,)"), std::string::npos) << ours(a);
  pb::Int64Value min;
  min.set_value(std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ours(min), "-9223372036854775808");
  pb::UInt64Value max;
  max.set_value(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ours(max), "18446744073709551615");
}

TEST(JsonPrinter, IntegralDoublesPrintAsIntegersOthersShortest) {
  const v1::FlowRecord r = flow_record(make_flow(), flow::EndReason::kTimeout);
  const std::string json = ours(r);
  EXPECT_NE(json.find(R"("flow_id":2251799813685247,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("bytes_toserver":5000000000,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("pkts_toclient":0,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("parent_id":12345})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("age":5,)"), std::string::npos) << json;

  pb::DoubleValue d;
  const std::pair<double, const char*> cases[] = {{0.5, "0.5"},
                                                  {0.1, "0.1"},
                                                  {-3, "-3"},
                                                  {-0.0, "-0"},
                                                  {1e-7, "1e-07"},
                                                  {1e20, "1e+20"},
                                                  {0, "0"},
                                                  {123456.789, "123456.789"},
                                                  {4503599627370497.0, "4503599627370497"},
                                                  {9.2e18, "9200000000000000000"},
                                                  {1e19, "1e+19"}};
  for (const auto& [value, text] : cases) {
    d.set_value(value);
    EXPECT_EQ(ours(d), text);
    EXPECT_EQ(parse(ours(d)).GetDouble(), value);
  }
  pb::FloatValue f;
  f.set_value(0.1f);
  EXPECT_EQ(ours(f), "0.1");  // the float's shortest form, not the double's
}

TEST(JsonPrinter, NanAndInfinitiesPrintNull) {
  v1::FlowRecord r;
  r.set_flow_id(std::nan(""));
  r.mutable_flow()->set_age(std::numeric_limits<double>::infinity());
  r.mutable_flow()->set_bytes_toclient(-std::numeric_limits<double>::infinity());
  const std::string json = ours(r);
  EXPECT_EQ(json, R"({"flow_id":null,"flow":{"bytes_toclient":null,"age":null}})");
  parse(json);
}

TEST(JsonPrinter, StringsWithQuotesBackslashesControlsAndUtf8RoundTrip) {
  const std::string texts[] = {
      "say \"hi\"",
      "C:\\Windows\\system32",
      std::string("nul\0inside", 10),
      "\x01\x02\x1f\b\f\n\r\t\x7f",
      "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xe2\x80\xa8",  // é 日本 😀 U+2028
      "</script><b>&amp;",
  };
  for (const std::string& text : texts) {
    v1::Hello h;
    h.set_sensor_id(text);
    const std::string json = ours(h);
    const rapidjson::Document d = parse(json);
    ASSERT_TRUE(d.IsObject() && d.HasMember("sensor_id")) << json;
    EXPECT_EQ(std::string(d["sensor_id"].GetString(), d["sensor_id"].GetStringLength()), text)
        << json;
    EXPECT_EQ(json.find_first_of(std::string("\x00\x01\x1f\n", 4)), std::string::npos) << json;
    expect_same_document(h);
  }
}

// Strings are scanned eight bytes at a time: a special character must be seen at any offset.
TEST(JsonPrinter, SpecialCharactersAreEscapedAtAnyOffset) {
  for (const char special : {'"', '\\', '\x00', '\x01', '\x1f', '\x7f', ' ', '~'}) {
    for (size_t at = 0; at < 19; ++at) {
      std::string text(19, 'a');
      text[at] = special;
      v1::Hello h;
      h.set_sensor_id(text);
      const std::string json = ours(h);
      const rapidjson::Document d = parse(json);
      ASSERT_TRUE(d.IsObject()) << json;
      EXPECT_EQ(std::string(d["sensor_id"].GetString(), d["sensor_id"].GetStringLength()), text)
          << json;
    }
  }
  for (size_t at = 0; at <= 17; ++at) {  // a non-ASCII character, whole
    std::string text(17, 'a');
    text.insert(at, "\xc3\xa9");
    v1::Hello h;
    h.set_sensor_id(text);
    EXPECT_EQ(parse(ours(h))["sensor_id"].GetString(), text);
  }
}

TEST(JsonPrinter, InvalidUtf8BecomesReplacementCharactersInValidJson) {
  const std::pair<std::string, std::string> cases[] = {
      {"a\xffz", "a\xef\xbf\xbdz"},
      {"a\xc3(z", "a\xef\xbf\xbd(z"},  // the valid byte after a bad lead is kept
      {"\xe2\x82", "\xef\xbf\xbd"},    // truncated: one maximal subpart
      {"\xed\xa0\x80x", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"},                // a surrogate
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                  // overlong '/'
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // > U+10FFFF
      {"ok \xf0\x9f\x98", "ok \xef\xbf\xbd"},
  };
  for (const auto& [raw, repaired] : cases) {
    v1::Hello h;
    h.set_sensor_id(raw);
    const std::string json = ours(h);
    const rapidjson::Document d = parse(json);  // validates UTF-8
    ASSERT_TRUE(d.IsObject()) << json;
    EXPECT_EQ(d["sensor_id"].GetString(), repaired) << json;
  }
}

TEST(JsonPrinter, BytesAreBase64AsProtobufPrintsThem) {
  for (const std::string& payload : {std::string("A"), std::string("AB"), std::string("ABC"),
                                     std::string("\x00\xff\xfe\x80", 4), std::string(64, 'A')}) {
    v1::Alert a;
    a.set_payload(payload);
    EXPECT_EQ(ours(a), protobufs(a));
  }
  v1::Alert a;
  a.set_payload(std::string("\x00\xff\xfe", 3));
  EXPECT_EQ(ours(a), R"({"payload":"AP/+"})");
}

TEST(JsonPrinter, EmptyMessagesPrintEmptyObjects) {
  EXPECT_EQ(ours(v1::Alert()), "{}");
  EXPECT_EQ(ours(v1::Envelope()), "{}");
  EXPECT_EQ(ours(pb::Struct()), "{}");
  EXPECT_EQ(ours(pb::ListValue()), "[]");
}

TEST(JsonPrinter, Proto3PresenceFollowsProtobuf) {
  v1::FlowRecord r;
  r.set_event_type("");  // implicit presence at default: omitted
  r.set_src_port(0);     // optional, set: printed
  r.mutable_flow()->set_alerted(false);
  r.mutable_tcp();  // a message, set: printed even empty
  r.set_seq(0);     // implicit presence: omitted
  EXPECT_EQ(ours(r), R"({"src_port":0,"flow":{"alerted":false},"tcp":{}})");
  expect_same_document(r);
}

TEST(JsonPrinter, MetadataStructIsPlainJsonWithSortedKeys) {
  v1::AlertInfo info;
  set_metadata(&info);
  const std::string json = ours(info);
  EXPECT_EQ(json, R"({"metadata":{"attack_target":["Client_Endpoint"],"confidence":0.75,)"
                  R"("deployment":["Perimeter","Internal"],"expires":null,"former_sid":2019001,)"
                  R"("nested":{"a":"b"},"reviewed":false,"signature_severity":["Major"]}})");
  expect_same_document(info);
  // A Value with no kind set: null (protobuf prints nothing at all there).
  pb::Struct s;
  (*s.mutable_fields())["unset"];
  EXPECT_EQ(ours(s), R"({"unset":null})");
}

TEST(JsonPrinter, DynamicMessagesPrintLikeGeneratedOnes) {
  pb::DynamicMessageFactory factory;
  const v1::Alert alert = make_alert();
  std::unique_ptr<pb::Message> dynamic(factory.GetPrototype(alert.GetDescriptor())->New());
  dynamic->CopyFrom(alert);
  ASSERT_EQ(dynamic->GetDescriptor(), alert.GetDescriptor());
  EXPECT_EQ(ours(*dynamic), ours(alert));
}

TEST(JsonPrinter, EnumsByNameAndProto2PresenceAsProtobuf) {
  pb::FieldDescriptorProto field;
  field.set_name("seq");
  field.set_number(12);
  field.set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  field.set_type(pb::FieldDescriptorProto::TYPE_UINT64);
  field.set_default_value("");  // proto2: set, so printed although empty
  field.mutable_options()->set_packed(false);
  EXPECT_EQ(ours(field),
            R"({"name":"seq","number":12,"label":"LABEL_OPTIONAL","type":"TYPE_UINT64",)"
            R"("default_value":"","options":{"packed":false}})");
  expect_same_document(field);
}

TEST(JsonPrinter, TimestampsAndDurationsAsProtobufPrintsThem) {
  const std::pair<int64_t, int32_t> times[] = {{1'713'693'600, 123'000'000},
                                               {0, 0},
                                               {-1, 0},
                                               {951'782'400, 1000},  // 2000-02-29
                                               {253'402'300'799, 999'999'999},
                                               {-62'135'596'800, 1}};
  for (const auto& [seconds, nanos] : times) {
    pb::Timestamp t;
    t.set_seconds(seconds);
    t.set_nanos(nanos);
    EXPECT_EQ(ours(t), protobufs(t));
  }
  const std::pair<int64_t, int32_t> durations[] = {
      {5, 500'000'000}, {0, 0}, {-1, -250'000'000}, {0, -1000}, {315'576'000'000, 0}};
  for (const auto& [seconds, nanos] : durations) {
    pb::Duration d;
    d.set_seconds(seconds);
    d.set_nanos(nanos);
    EXPECT_EQ(ours(d), protobufs(d));
  }
  pb::Timestamp bad;
  bad.set_seconds(253'402'300'800);
  std::string out = "kept";
  EXPECT_FALSE(append_json(bad, out));
  EXPECT_EQ(out, "kept");  // nothing half-written
}

TEST(JsonPrinter, AppendsToWhatTheStringHolds) {
  v1::Ack a;
  a.set_seq(1);
  std::string line = "prefix ";
  ASSERT_TRUE(append_json(a, line));
  ASSERT_TRUE(append_json(a, line));
  EXPECT_EQ(line, R"(prefix {"seq":1}{"seq":1})");
}

TEST(JsonPrinter, TooDeepANestingIsRefused) {
  pb::Value root;
  pb::Value* v = &root;
  for (int i = 0; i < 200; ++i)
    v = (*v->mutable_struct_value()->mutable_fields())["x"].mutable_list_value()->add_values();
  std::string out;
  EXPECT_FALSE(append_json(root, out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace spanguard::output
