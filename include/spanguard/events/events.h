// Builds EVE events from the sensor's own state: alerts from detections, flow records from ended
// flows (client as src, server as dest, as EVE has them), protocol and reset records. Apart from
// the wire protocol (output), which knows nothing of detection, flows or resets.
#pragma once

#include <string>

#include "spanguard/applayer/app_layer.h"
#include "spanguard/applayer/http.h"
#include "spanguard/core/time.h"
#include "spanguard/detect/detector.h"
#include "spanguard/flow/flow.h"
#include "spanguard/output/envelope.h"
#include "spanguard/respond/responder.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::events {

// "TCP", "UDP", "ICMP", "IPv6-ICMP", else the protocol number.
std::string proto_name(uint8_t ip_proto);
// The EVE flow record of a flow that just ended.
v1::FlowRecord flow_record(const flow::Flow& flow, flow::EndReason reason);
// The same into `record` (cleared first by the caller): a reused message keeps its strings'
// memory, so steady-state flow records allocate nothing.
void flow_record(const flow::Flow& flow, flow::EndReason reason, v1::FlowRecord& record);
// Which forms of the triggering bytes an alert carries (output.eve.payload): EVE's `payload`
// (base64) and `payload_printable`.
struct PayloadFormat {
  bool base64 = true;
  bool printable = false;
  bool packet = false;  // output.eve.packet: the frame itself, with packet_info
};
// What a flow record carries beyond the flow itself (set on the protobuf path by the envelope
// helpers).
struct FlowRecordExtras {
  uint64_t seq = 0;
  std::string_view host;
  std::string_view community_id;  // empty: none
  std::string_view idle_action;   // empty: none
};
// The EVE line of a flow record, printed straight from the flow: exactly what printing
// flow_record() (with the extras set) gives, at a fraction of the cost — for the EVE file when no
// alert stream needs the protobuf message. Appends the JSON and a newline to `out`.
void append_flow_record_json(const flow::Flow& f, flow::EndReason reason,
                             const FlowRecordExtras& extras, std::string& out);

// "none", "base64", "printable" or "both" (anything else: base64); `packet`: output.eve.packet.
PayloadFormat payload_format(std::string_view name, bool packet = false);
// Suricata's payload_printable: printable ASCII, CR and LF kept, every other byte a '.'.
std::string payload_printable(std::span<const uint8_t> bytes);

// The EVE alert of a detection: src is the sender of the data that matched (as in Suricata);
// `seq` numbers the run's events from 1. `reset`: what a response sent (null: none was due);
// alert.action is then "blocked" when anything was sent.
// `tx`: the application-layer inspection the alert was raised on (its EVE `http`, `tls` or `dns`
// object).
v1::Alert alert_record(const detect::AlertEvent& alert, uint64_t seq,
                       const respond::ResetSummary* reset = nullptr,
                       const applayer::TxInspection* tx = nullptr, PayloadFormat payload = {});
// EVE's `tls` object of a session, `dns` object of a message.
void set_tls(v1::TlsInfo* info, const applayer::tls::Session& session);
void set_dns(v1::DnsInfo* info, const applayer::dns::Message& message);
// EVE's `http` object of a transaction.
void set_http(v1::HttpInfo* info, const applayer::http::Transaction& tx);
// The record of an HTTP transaction, TLS handshake or DNS message (event_type "http", "tls",
// "dns", whichever `tx` carries); HTTP and TLS with the client as src, DNS with the sender.
v1::AppRecord app_record(const applayer::TxInspection& tx, core::Timestamp ts, uint64_t seq);

// Community ID v1 of a flow: the client as first endpoint, an ICMP flow's first type and code as
// its ports; of a packet outside any flow, from its own header.
std::string community_id(const flow::Flow& flow, uint16_t seed);
void community_id(const flow::Flow& flow, uint16_t seed, std::string& out);  // into `out`
std::string community_id(const decode::PacketView& packet, uint16_t seed);

// The `reset` object of an alert or reset report: mode, packets and outcome per end.
void set_reset(v1::ResetInfo* info, const respond::ResetSummary& summary);
// The follow-up of a reset whose kill watch ended: event_type "reset", the outcome per end.
v1::ResetReport reset_report(const respond::ResetOutcomeEvent& event, uint64_t seq);

}  // namespace spanguard::events
