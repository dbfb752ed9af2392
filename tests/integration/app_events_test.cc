// app-layer-event through `spanguard replay`: a rule naming a protocol event fires on the message
// whose parsing raised it, on the side the event names, and not on a clean message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns_messages.h"
#include "frame_builder.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

std::vector<Bytes> http_exchange(const std::string& request_te, const std::string& response_te) {
  TcpConversation c({"198.51.100.7", 41000, kClientMac}, {"198.51.100.20", 80, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (const auto& f : c.client_sends("POST /tmui/login.jsp HTTP/1.1\r\nHost: a.example\r\n"
                                      "Transfer-Encoding: " +
                                      request_te + "\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"))
    frames.push_back(f);
  for (const auto& f : c.server_sends("HTTP/1.1 200 OK\r\nTransfer-Encoding: " + response_te +
                                      "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
    frames.push_back(f);
  return frames;
}

const std::string kRules =
    "alert http any any -> any any (msg:\"te request\"; flow:to_server; "
    "app-layer-event:http.invalid_transfer_encoding_value_in_request; sid:1;)\n"
    "alert http any any -> any any (msg:\"te response\"; flow:to_client; "
    "app-layer-event:http.invalid_transfer_encoding_value_in_response; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"te request with content\"; flow:to_server; "
    "app-layer-event:http.invalid_transfer_encoding_value_in_request; http.method; "
    "content:\"POST\"; sid:3;)\n";

TEST(AppLayerEvent, HttpEventsFireOnTheSideThatRaisedThem) {
  // The CVE-2023-46747 smuggling trick: a doubled "chunked".
  const Replay smuggled =
      replay("event-te-request", http_exchange("chunked, chunked", "chunked"), kRules, "{}");
  ASSERT_EQ(smuggled.run.status, 0) << smuggled.run.err;
  EXPECT_EQ(smuggled.alerts, (AlertCounts{{1, 1}, {3, 1}})) << smuggled.eve_text;

  const Replay response =
      replay("event-te-response", http_exchange("chunked", "gzip, chunked"), kRules, "{}");
  ASSERT_EQ(response.run.status, 0) << response.run.err;
  EXPECT_EQ(response.alerts, (AlertCounts{{2, 1}})) << response.eve_text;

  const Replay clean = replay("event-te-clean", http_exchange("chunked", "chunked"), kRules, "{}");
  ASSERT_EQ(clean.run.status, 0) << clean.run.err;
  EXPECT_TRUE(clean.alerts.empty()) << clean.eve_text;
}

TEST(AppLayerEvent, DnsEvents) {
  const auto frame = [](const Bytes& message) {
    return FrameBuilder()
        .ethernet(kClientMac, kServerMac)
        .ipv4("198.51.100.7", "198.51.100.53")
        .udp(53001, 53)
        .payload(message)
        .build();
  };
  Bytes z = dns_query(7, "www.example.org", 1);
  z[3] |= 0x40;  // the reserved Z bit
  const Replay r = replay(
      "event-dns", {frame(dns_query(6, "www.example.org", 1)), frame(z)},
      "alert dns any any -> any any (msg:\"z\"; app-layer-event:dns.z_flag_set; sid:5;)\n", "{}");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{5, 1}})) << r.eve_text;
}

}  // namespace
}  // namespace spanguard::testing
