// Builds EVE events (alerts, flow, protocol and reset records) from the sensor's own state: the
// detection's alert, the flow, the application-layer transaction, the responder's outcome.
#include "spanguard/events/events.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "spanguard/applayer/dns.h"
#include "spanguard/applayer/tls.h"
#include "spanguard/core/community_id.h"
#include "spanguard/output/json_line.h"

namespace spanguard::events {

using output::eve_timestamp;

std::string proto_name(uint8_t ip_proto) {
  switch (ip_proto) {
    case decode::ip_proto::kTcp:
      return "TCP";
    case decode::ip_proto::kUdp:
      return "UDP";
    case decode::ip_proto::kIcmp:
      return "ICMP";
    case decode::ip_proto::kIcmpv6:
      return "IPv6-ICMP";
    default:
      return std::to_string(ip_proto);
  }
}

namespace {

std::string address_text(const flow::FlowKey& key, int endpoint) {
  const auto& raw = key.addr[endpoint];
  return (key.family == 4 ? core::IpAddress::v4(raw.data()) : core::IpAddress::v6(raw.data()))
      .to_string();
}

// EVE's flow.state: "new" before the handshake completes, "established", "closed".
const char* eve_state(const flow::Flow& f) {
  if (!f.is_tcp()) return f.packets[1] > 0 ? "established" : "new";
  switch (f.tcp.state()) {
    case flow::TcpState::kSynSent:
    case flow::TcpState::kSynReceived:
      return "new";
    case flow::TcpState::kEstablished:
    case flow::TcpState::kClosing:
      return "established";
    case flow::TcpState::kClosed:
      return "closed";
  }
  return "new";
}

// EVE's flow.reason: "timeout", "forced" (evicted, reused) or "shutdown".
const char* eve_reason(flow::EndReason r) {
  switch (r) {
    case flow::EndReason::kClosed:
    case flow::EndReason::kTimeout:
      return "timeout";
    case flow::EndReason::kReused:
    case flow::EndReason::kEvicted:
      return "forced";
    case flow::EndReason::kShutdown:
      return "shutdown";
  }
  return "timeout";
}

}  // namespace

namespace {

// EVE's tcp object of a flow record: the flags seen, as hex per direction and as booleans named
// as EVE names them; shared by the protobuf record and the JSON printed straight from the flow.
std::string flag_hex(uint8_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string{kDigits[v >> 4], kDigits[v & 15]};
}

constexpr std::pair<uint8_t, const char*> kTcpFlagNames[] = {
    {decode::tcp_flag::kSyn, "syn"}, {decode::tcp_flag::kFin, "fin"},
    {decode::tcp_flag::kRst, "rst"}, {decode::tcp_flag::kPsh, "psh"},
    {decode::tcp_flag::kAck, "ack"}, {decode::tcp_flag::kUrg, "urg"},
    {decode::tcp_flag::kEce, "ecn"}, {decode::tcp_flag::kCwr, "cwr"}};

void set_tcp(v1::TcpInfo* tcp, const flow::Flow& f) {
  tcp->set_state(flow::to_string(f.tcp.state()));
  const uint8_t ts = f.tcp_flags[0], tc = f.tcp_flags[1], both = ts | tc;
  tcp->set_tcp_flags(flag_hex(both));
  tcp->set_tcp_flags_ts(flag_hex(ts));
  tcp->set_tcp_flags_tc(flag_hex(tc));
  const auto* reflection = tcp->GetReflection();
  for (const auto& [bit, name] : kTcpFlagNames) {
    if (both & bit) reflection->SetBool(tcp, tcp->GetDescriptor()->FindFieldByName(name), true);
  }
  if (f.gaps[0] > 0) tcp->set_ts_gap(true);
  if (f.gaps[1] > 0) tcp->set_tc_gap(true);
}

}  // namespace

v1::FlowRecord flow_record(const flow::Flow& f, flow::EndReason reason) {
  v1::FlowRecord r;
  flow_record(f, reason, r);
  return r;
}

void flow_record(const flow::Flow& f, flow::EndReason reason, v1::FlowRecord& r) {
  const int client = f.client_is_first ? 0 : 1;
  r.set_timestamp(eve_timestamp(f.last_seen));
  r.set_flow_id(static_cast<double>(f.flow_id));
  r.set_event_type("flow");
  if (f.parent_flow_id != 0) r.set_parent_id(static_cast<double>(f.parent_flow_id));
  r.set_src_ip(address_text(f.key, client));
  r.set_dest_ip(address_text(f.key, 1 - client));
  if (f.key.proto == decode::ip_proto::kTcp || f.key.proto == decode::ip_proto::kUdp) {
    r.set_src_port(f.key.port[client]);  // EVE has ports for these only
    r.set_dest_port(f.key.port[1 - client]);
  }
  r.set_proto(proto_name(f.key.proto));
  if (f.key.proto == decode::ip_proto::kIcmp || f.key.proto == decode::ip_proto::kIcmpv6) {
    r.set_icmp_type(f.icmp_type);
    r.set_icmp_code(f.icmp_code);
    if (f.packets[1] > 0) {
      r.set_response_icmp_type(f.icmp_reply_type);
      r.set_response_icmp_code(f.icmp_reply_code);
    }
  }
  const flow::EndpointTrace& trace = f.endpoint[flow::index(flow::Direction::kToServer)];
  for (int i = 0; i < trace.vlan_count; ++i) r.add_vlan(trace.vlan_ids[i]);
  v1::FlowInfo* info = r.mutable_flow();
  info->set_pkts_toserver(static_cast<double>(f.packets[0]));
  info->set_pkts_toclient(static_cast<double>(f.packets[1]));
  info->set_bytes_toserver(static_cast<double>(f.bytes[0]));
  info->set_bytes_toclient(static_cast<double>(f.bytes[1]));
  info->set_start(eve_timestamp(f.first_seen));
  info->set_end(eve_timestamp(f.last_seen));
  info->set_age(static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(f.last_seen - f.first_seen).count()));
  info->set_state(eve_state(f));
  info->set_reason(eve_reason(reason));
  info->set_alerted(f.alerted);
  if (f.app_proto != core::AppProto::kNone)
    r.set_app_proto(std::string(core::to_string(f.app_proto)));
  if (f.is_tcp()) set_tcp(r.mutable_tcp(), f);
  r.set_end_reason(flow::to_string(reason));
}

namespace {}  // namespace

void append_flow_record_json(const flow::Flow& f, flow::EndReason reason,
                             const FlowRecordExtras& extras, std::string& out) {
  output::JsonLine j(out);
  const int client = f.client_is_first ? 0 : 1;
  const bool ports = f.key.proto == decode::ip_proto::kTcp || f.key.proto == decode::ip_proto::kUdp;
  const bool icmp =
      f.key.proto == decode::ip_proto::kIcmp || f.key.proto == decode::ip_proto::kIcmpv6;
  const std::string end = eve_timestamp(f.last_seen);
  j.open();
  j.plain("timestamp", end);
  j.number("flow_id", f.flow_id);
  j.plain("event_type", "flow");
  j.plain("src_ip", address_text(f.key, client));
  if (ports) j.number("src_port", f.key.port[client]);
  j.plain("dest_ip", address_text(f.key, 1 - client));
  if (ports) j.number("dest_port", f.key.port[1 - client]);
  j.plain("proto", proto_name(f.key.proto));
  const flow::EndpointTrace& trace = f.endpoint[flow::index(flow::Direction::kToServer)];
  if (trace.vlan_count > 0) {
    j.array("vlan");
    for (int i = 0; i < trace.vlan_count; ++i) j.element(trace.vlan_ids[i]);
    j.close_array();
  }
  if (f.app_proto != core::AppProto::kNone) j.plain("app_proto", core::to_string(f.app_proto));
  j.object("flow");
  j.number("pkts_toserver", f.packets[0]);
  j.number("pkts_toclient", f.packets[1]);
  j.number("bytes_toserver", f.bytes[0]);
  j.number("bytes_toclient", f.bytes[1]);
  j.plain("start", eve_timestamp(f.first_seen));
  j.plain("end", end);
  j.number(
      "age",
      static_cast<uint64_t>(std::max<int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::seconds>(f.last_seen - f.first_seen).count())));
  j.plain("state", eve_state(f));
  j.plain("reason", eve_reason(reason));
  j.boolean("alerted", f.alerted);
  j.close();
  if (f.is_tcp()) {
    const uint8_t ts = f.tcp_flags[0], tc = f.tcp_flags[1], both = ts | tc;
    j.object("tcp");
    j.plain("state", flow::to_string(f.tcp.state()));
    j.plain("tcp_flags", flag_hex(both));
    j.plain("tcp_flags_ts", flag_hex(ts));
    j.plain("tcp_flags_tc", flag_hex(tc));
    for (const auto& [bit, name] : kTcpFlagNames) {
      if (both & bit) j.boolean(name, true);
    }
    if (f.gaps[0] > 0) j.boolean("ts_gap", true);
    if (f.gaps[1] > 0) j.boolean("tc_gap", true);
    j.close();
  }
  j.plain("end_reason", flow::to_string(reason));
  if (extras.seq != 0) j.number("seq", extras.seq);
  if (!extras.host.empty()) j.text("host", extras.host);
  if (f.parent_flow_id != 0) j.number("parent_id", f.parent_flow_id);
  if (!extras.community_id.empty()) j.plain("community_id", extras.community_id);
  if (icmp) {
    j.number("icmp_type", f.icmp_type);
    j.number("icmp_code", f.icmp_code);
    if (f.packets[1] > 0) {
      j.number("response_icmp_type", f.icmp_reply_type);
      j.number("response_icmp_code", f.icmp_reply_code);
    }
  }
  if (!extras.idle_action.empty()) j.plain("idle_action", extras.idle_action);
  j.close();
  j.end();
  out += '\n';
}

std::string payload_printable(std::span<const uint8_t> bytes) {
  std::string out(bytes.size(), '.');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t c = bytes[i];
    // Suricata: printable ASCII, CR and LF as they are, anything else a dot.
    if ((c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n') out[i] = static_cast<char>(c);
  }
  return out;
}

PayloadFormat payload_format(std::string_view name, bool packet) {
  PayloadFormat f{true, false, packet};  // base64
  if (name == "none") f.base64 = false;
  if (name == "printable") f = {false, true, packet};
  if (name == "both") f.printable = true;
  return f;
}

namespace {

// The pcap LINKTYPE number and name of a capture's framing (EVE's packet_info).
std::pair<uint32_t, const char*> link_type_number(decode::LinkType link) {
  switch (link) {
    case decode::LinkType::kEthernet:
      return {1, "EN10MB"};
    case decode::LinkType::kLinuxSll:
      return {113, "LINUX_SLL"};
    case decode::LinkType::kLinuxSll2:
      return {276, "LINUX_SLL2"};
    case decode::LinkType::kRawIp:
      return {101, "RAW"};
    case decode::LinkType::kIpv4:
      return {228, "IPV4"};
    case decode::LinkType::kIpv6:
      return {229, "IPV6"};
    case decode::LinkType::kNull:
      return {0, "NULL"};
    case decode::LinkType::kPpp:
      return {9, "PPP"};
    case decode::LinkType::kPppSerial:
      return {50, "PPP_SERIAL"};
    case decode::LinkType::kCiscoHdlc:
      return {104, "C_HDLC"};
  }
  return {1, "EN10MB"};
}

// src is the sender of the data that matched, as in Suricata; shared by alerts and reset reports.
template <typename Record>
void set_endpoints(Record& r, const flow::Flow& f, flow::Direction dir) {
  r.set_flow_id(static_cast<double>(f.flow_id));
  const int client = f.client_is_first ? 0 : 1;
  const int sender = dir == flow::Direction::kToServer ? client : 1 - client;
  r.set_src_ip(address_text(f.key, sender));
  r.set_dest_ip(address_text(f.key, 1 - sender));
  r.set_proto(proto_name(f.key.proto));
  if (f.key.proto == decode::ip_proto::kTcp || f.key.proto == decode::ip_proto::kUdp) {
    r.set_src_port(f.key.port[sender]);  // EVE has ports for these only
    r.set_dest_port(f.key.port[1 - sender]);
  }
  const flow::EndpointTrace& trace = f.endpoint[flow::index(dir)];
  for (int i = 0; i < trace.vlan_count; ++i) r.add_vlan(trace.vlan_ids[i]);
}

void set_rule(v1::AlertInfo* info, const rules::Rule& rule, const char* action) {
  info->set_action(action);
  info->set_gid(rule.gid);
  info->set_signature_id(rule.sid);
  info->set_rev(rule.rev);
  info->set_signature(rule.msg);
  info->set_category(rule.category);
  info->set_severity(rule.priority);
  for (const rules::Reference& ref : rule.references) {
    info->add_references(ref.url.empty() ? ref.type + "," + ref.value : ref.url);
  }
  if (!rule.metadata.empty()) {
    auto& fields = *info->mutable_metadata()->mutable_fields();
    for (const auto& [key, value] : rule.metadata) {
      fields[key].mutable_list_value()->add_values()->set_string_value(value);
    }
  }
}

}  // namespace

void set_reset(v1::ResetInfo* info, const respond::ResetSummary& s) {
  info->set_mode(respond::to_string(s.mode));
  info->set_cause(respond::to_string(s.cause));
  const auto side = [](v1::ResetSide* out, const respond::SideReport& r) {
    out->set_packets(r.packets);
    out->set_follow_ups(r.follow_ups);
    out->set_outcome(respond::to_string(r.outcome));
  };
  side(info->mutable_client(), s.client());
  side(info->mutable_server(), s.server());
}

void set_http(v1::HttpInfo* info, const applayer::http::Transaction& tx) {
  const applayer::http::Message& rq = tx.request;
  const applayer::http::Message& rs = tx.response();
  if (tx.has_request) {
    info->set_hostname(tx.host);
    if (const auto* h = rq.find("Host")) {
      // "host:port": the port EVE reports as http_port.
      const std::string_view v = h->value;
      const auto colon = v.rfind(':');
      if (colon != std::string_view::npos && v.find(']', colon) == std::string_view::npos) {
        uint32_t port = 0;
        bool digits = colon + 1 < v.size();
        for (size_t i = colon + 1; i < v.size() && digits; ++i) {
          digits = v[i] >= '0' && v[i] <= '9' && port < 65536;
          port = port * 10 + static_cast<uint32_t>(v[i] - '0');
        }
        if (digits && port > 0 && port < 65536) info->set_http_port(port);
      }
    }
    info->set_url(rq.uri_raw);
    if (const auto* h = rq.find("User-Agent")) info->set_http_user_agent(h->value);
    if (const auto* h = rq.find("Referer")) info->set_http_refer(h->value);
    info->set_http_method(rq.method);
    info->set_protocol(rq.protocol);
  }
  if (tx.has_response && rs.headers_done) {
    if (!tx.has_request) info->set_protocol(rs.protocol);
    if (const auto* h = rs.find("Content-Type")) info->set_http_content_type(h->value);
    if (const auto* h = rs.find("Location")) info->set_redirect(h->value);
    uint32_t status = 0;
    for (const char c : rs.status_code) {
      if (c < '0' || c > '9' || status > 100000) {
        status = 0;
        break;
      }
      status = status * 10 + static_cast<uint32_t>(c - '0');
    }
    if (status > 0) info->set_status(status);
    info->set_length(static_cast<uint32_t>(std::min<uint64_t>(rs.body_bytes, UINT32_MAX)));
  }
}

namespace {

std::string tls_version_name(uint16_t v) {
  switch (v) {
    case 0x0300:
      return "SSLv3";
    case 0x0301:
      return "TLS 1.0";
    case 0x0302:
      return "TLS 1.1";
    case 0x0303:
      return "TLS 1.2";
    case 0x0304:
      return "TLS 1.3";
    default:
      return "UNDETERMINED";
  }
}

// Suricata prints certificate validity as "YYYY-MM-DDTHH:MM:SS" (UTC).
std::string certificate_time(int64_t seconds) {
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return {};
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace

void set_tls(v1::TlsInfo* info, const applayer::tls::Session& s) {
  if (s.has_sni) info->set_sni(s.sni);
  info->set_version(tls_version_name(s.server_hello ? s.version : s.client_version));
  if (!s.certificates.empty() && s.certificates.front().parsed) {
    const applayer::tls::Certificate& c = s.certificates.front();
    info->set_subject(c.subject);
    info->set_issuerdn(c.issuer);
    info->set_serial(c.serial);
    info->set_fingerprint(c.fingerprint);
    info->set_notbefore(certificate_time(c.not_before));
    info->set_notafter(certificate_time(c.not_after));
  }
  if (s.client_hello) {
    info->mutable_ja3()->set_hash(s.ja3_hash);
    info->mutable_ja3()->set_string(s.ja3);
    info->set_ja4(s.ja4);
    for (const std::string& a : s.alpn) info->add_client_alpns(a);
  }
  if (s.server_hello) {
    info->mutable_ja3s()->set_hash(s.ja3s_hash);
    info->mutable_ja3s()->set_string(s.ja3s);
    if (!s.server_alpn.empty()) info->add_server_alpns(s.server_alpn);
    info->set_session_resumed(s.resumed);
  }
}

void set_dns(v1::DnsInfo* info, const applayer::dns::Message& m) {
  namespace dns = applayer::dns;
  info->set_version(3);
  info->set_type(m.header.qr ? "response" : "request");
  info->set_id(m.header.id);
  char flags[8];
  std::snprintf(flags, sizeof flags, "%x", m.header.flags);
  info->set_flags(flags);
  info->set_qr(m.header.qr);
  info->set_rd(m.header.rd);
  info->set_ra(m.header.ra);
  info->set_aa(m.header.aa);
  info->set_tc(m.header.tc);
  info->set_opcode(m.header.opcode);
  std::string text;
  if (m.header.qr) {
    dns::append_rcode(text, m.header.rcode);
    info->set_rcode(text);
  }
  for (const dns::Question& q : m.questions()) {
    v1::DnsQuery* out = info->add_queries();
    text.clear();
    dns::append_eve_text(text, q.name);
    out->set_rrname(text);
    text.clear();
    dns::append_rrtype(text, q.type);
    out->set_rrtype(text);
  }
  for (const dns::Record& r : m.answers()) {
    v1::DnsAnswer* out = info->add_answers();
    text.clear();
    dns::append_eve_text(text, r.name);
    out->set_rrname(text);
    text.clear();
    dns::append_rrtype(text, r.type);
    out->set_rrtype(text);
    out->set_ttl(r.ttl);
    text.clear();
    dns::append_eve_text(text, r.text);
    out->set_rdata(text);
  }
}

v1::AppRecord app_record(const applayer::TxInspection& tx, core::Timestamp ts, uint64_t seq) {
  v1::AppRecord r;
  r.set_timestamp(eve_timestamp(ts));
  set_endpoints(r, *tx.flow, tx.dns != nullptr ? tx.dir : flow::Direction::kToServer);
  r.set_tx_id(static_cast<uint32_t>(tx.tx_id));
  if (tx.http != nullptr) {
    r.set_event_type("http");
    set_http(r.mutable_http(), *tx.http);
  } else if (tx.tls != nullptr) {
    r.set_event_type("tls");
    set_tls(r.mutable_tls(), *tx.tls);
  } else if (tx.dns != nullptr) {
    r.set_event_type("dns");
    set_dns(r.mutable_dns(), *tx.dns);
  }
  r.set_seq(seq);
  return r;
}

v1::Alert alert_record(const detect::AlertEvent& a, uint64_t seq,
                       const respond::ResetSummary* reset, const applayer::TxInspection* tx,
                       PayloadFormat payload) {
  v1::Alert r;
  const rules::Rule& rule = a.rule->rule();
  const decode::PacketView* p = a.packet;
  r.set_timestamp(eve_timestamp(p != nullptr ? p->ts : a.flow->last_seen));
  r.set_event_type("alert");
  if (a.flow != nullptr) {
    set_endpoints(r, *a.flow, a.dir);
  } else if (p != nullptr) {
    r.set_src_ip(p->src_ip().to_string());
    r.set_dest_ip(p->dst_ip().to_string());
    r.set_proto(proto_name(p->ip_proto));
    if (p->is_tcp() || p->is_udp()) {
      r.set_src_port(p->src_port);
      r.set_dest_port(p->dst_port);
    }
    for (int i = 0; i < p->vlan_count; ++i) r.add_vlan(p->vlan_ids[i]);
  }
  const bool blocked = reset != nullptr && reset->attempted;
  // Suricata's two values: what happened to the traffic, not what the rule asked for.
  set_rule(r.mutable_alert(), rule, blocked ? "blocked" : "allowed");
  r.set_direction(a.dir == flow::Direction::kToServer ? "to_server" : "to_client");
  r.set_pkt_src(p != nullptr ? "wire/pcap" : "stream (flow timeout)");
  if (p != nullptr && p->is_icmp()) {
    r.set_icmp_type(p->icmp_type);
    r.set_icmp_code(p->icmp_code);
  } else if (a.flow != nullptr && (a.flow->key.proto == decode::ip_proto::kIcmp ||
                                   a.flow->key.proto == decode::ip_proto::kIcmpv6)) {
    r.set_icmp_type(a.flow->icmp_type);
    r.set_icmp_code(a.flow->icmp_code);
  }
  if (a.flow != nullptr) {
    v1::FlowInfo* info = r.mutable_flow();
    info->set_pkts_toserver(static_cast<double>(a.flow->packets[0]));
    info->set_pkts_toclient(static_cast<double>(a.flow->packets[1]));
    info->set_bytes_toserver(static_cast<double>(a.flow->bytes[0]));
    info->set_bytes_toclient(static_cast<double>(a.flow->bytes[1]));
    info->set_start(eve_timestamp(a.flow->first_seen));
  }
  if (rule.target != rules::Target::kNone) {
    // Suricata: target:dest_ip makes the alert's destination the target, its source the source.
    const bool dest_is_target = rule.target == rules::Target::kDestIp;
    v1::AlertEndpoint* target = r.mutable_alert()->mutable_target();
    v1::AlertEndpoint* source = r.mutable_alert()->mutable_source();
    target->set_ip(dest_is_target ? r.dest_ip() : r.src_ip());
    source->set_ip(dest_is_target ? r.src_ip() : r.dest_ip());
    if (r.has_src_port()) {
      target->set_port(dest_is_target ? r.dest_port() : r.src_port());
      source->set_port(dest_is_target ? r.src_port() : r.dest_port());
    }
  }
  if (reset != nullptr && reset->tcp) set_reset(r.mutable_reset(), *reset);
  r.set_seq(seq);
  if (!a.excerpt.empty() && (payload.base64 || payload.printable)) {
    if (payload.base64) r.set_payload(a.excerpt.data(), a.excerpt.size());
    if (payload.printable) r.set_payload_printable(payload_printable(a.excerpt));
    r.set_stream(a.rule->scope == detect::Scope::kStream ? 1 : 0);
  }
  if (payload.packet && p != nullptr && p->data != nullptr) {
    r.set_packet(p->data, p->caplen);
    const auto [linktype, name] = link_type_number(p->link);
    r.mutable_packet_info()->set_linktype(linktype);
    r.mutable_packet_info()->set_linktype_name(name);
  }
  if (a.flow != nullptr && a.flow->app_proto != core::AppProto::kNone)
    r.set_app_proto(std::string(core::to_string(a.flow->app_proto)));
  if (a.in_transaction) r.set_tx_id(static_cast<uint32_t>(a.tx_id));
  if (tx != nullptr && tx->http != nullptr) set_http(r.mutable_http(), *tx->http);
  if (tx != nullptr && tx->tls != nullptr) set_tls(r.mutable_tls(), *tx->tls);
  if (tx != nullptr && tx->dns != nullptr) set_dns(r.mutable_dns(), *tx->dns);
  return r;
}

v1::ResetReport reset_report(const respond::ResetOutcomeEvent& e, uint64_t seq) {
  v1::ResetReport r;
  r.set_timestamp(eve_timestamp(e.ts));
  r.set_event_type("reset");
  if (e.flow != nullptr) set_endpoints(r, *e.flow, e.trigger_dir);
  if (e.rule != nullptr) {
    set_rule(r.mutable_alert(), e.rule->rule(), e.summary.attempted ? "blocked" : "allowed");
  }
  r.set_alert_seq(e.alert_seq);
  set_reset(r.mutable_reset(), e.summary);
  r.set_seq(seq);
  return r;
}

std::string community_id(const flow::Flow& f, uint16_t seed) {
  std::string out;
  community_id(f, seed, out);
  return out;
}

void community_id(const flow::Flow& f, uint16_t seed, std::string& out) {
  const int client = f.client_is_first ? 0 : 1;
  const bool icmp =
      f.key.proto == decode::ip_proto::kIcmp || f.key.proto == decode::ip_proto::kIcmpv6;
  std::array<char, core::kCommunityIdV1Length> id;
  if (core::community_id_v1(id, flow::endpoint_address(f.key, client),
                            icmp ? f.icmp_type : f.key.port[client],
                            flow::endpoint_address(f.key, 1 - client),
                            icmp ? f.icmp_code : f.key.port[1 - client], f.key.proto, seed)) {
    out.assign(id.data(), id.size());
  } else {
    out.clear();
  }
}

std::string community_id(const decode::PacketView& p, uint16_t seed) {
  const bool icmp = p.is_icmp();
  return core::community_id_v1(p.src_ip(), icmp ? p.icmp_type : p.src_port, p.dst_ip(),
                               icmp ? p.icmp_code : p.dst_port, p.ip_proto, seed);
}

}  // namespace spanguard::events
