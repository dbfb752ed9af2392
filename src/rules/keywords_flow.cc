// Keywords about the flow and the alert's fate: flow, stream_size, app-layer-protocol,
// ftpdata_command, flowbits, xbits, flowint, threshold, detection_filter, noalert.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rule_builder.h"

namespace spanguard::rules::detail {

std::span<const RuleBuilder::Keyword> RuleBuilder::flow_keywords() {
  static constexpr Keyword kKeywords[] = {
      {"flow", &RuleBuilder::flow, true},
      {"stream_size", &RuleBuilder::stream_size, true},
      {"app-layer-protocol", &RuleBuilder::app_layer_protocol, true},
      {"app-layer-event", &RuleBuilder::app_layer_event, true},
      {"ftpdata_command", &RuleBuilder::ftpdata_command, true},
      {"flowbits", &RuleBuilder::flowbits, true},
      {"xbits", &RuleBuilder::xbits, true},
      {"flowint", &RuleBuilder::flowint, true},
      {"threshold", &RuleBuilder::threshold, true},
      {"detection_filter", &RuleBuilder::detection_filter, true},
      {"noalert", &RuleBuilder::noalert, false},
  };
  return kKeywords;
}

void RuleBuilder::flow(std::string_view v, size_t at) {
  FlowCondition f;
  std::string_view rest = v;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item == "established")
      f.established = true;
    else if (item == "not_established")
      f.not_established = true;
    else if (item == "stateless")
      f.stateless = true;
    else if (item == "to_server" || item == "from_client")
      f.to_server = true;
    else if (item == "to_client" || item == "from_server")
      f.to_client = true;
    else if (item == "only_stream")
      f.only_stream = true;
    else if (item == "no_stream")
      f.no_stream = true;
    else
      fail(at,
           "'flow': unknown option '" + std::string(item) +
               "' (expected established, "
               "not_established, stateless, to_server, to_client, from_server, from_client, "
               "only_stream, no_stream)",
           "'flow:" + std::string(item) + "'");
  }
  if (f.to_server && f.to_client)
    fail(at, "'flow': to_server and to_client exclude each other", "'flow' with both directions");
  if (f.established && f.not_established)
    fail(at, "'flow': established and not_established exclude each other",
         "'flow' with both states");
  if (f.only_stream && f.no_stream)
    fail(at, "'flow': only_stream and no_stream exclude each other",
         "'flow' with both stream options");
  rule_.flow = f;
}

// app-layer-protocol:[!]NAME[,MODE] — Suricata's modes (to_server, to_client, direction, final,
// original, either) all compare with the one protocol a flow is identified as here.
void RuleBuilder::app_layer_protocol(std::string_view v, size_t at) {
  AppLayerCondition c;
  v = trim(v.substr(0, v.find(',')));
  if (!v.empty() && v.front() == '!') {
    c.negated = true;
    v = trim(v.substr(1));
  }
  const auto proto = core::app_proto_from_name(v);
  if (!proto) {
    fail(at, "'app-layer-protocol': unknown protocol '" + std::string(v) + "'",
         "'app-layer-protocol:" + std::string(v) + "'");
  }
  c.proto = *proto;
  rule_.app_layer = c;
}

// app-layer-event:PROTO.EVENT — the inspected message raised that protocol event (Suricata's
// names, as the parsers register them in the registry); the rule becomes the protocol's.
void RuleBuilder::app_layer_event(std::string_view v, size_t at) {
  const std::string_view name = trim(v);
  const Registry::Event* e = registry_.find_event(name);
  if (e == nullptr) {
    const std::string_view proto = name.substr(0, name.find('.'));
    std::string known;
    for (const Registry::Event& k : registry_.events()) {
      if (k.name.substr(0, k.name.find('.')) == proto)
        known += (known.empty() ? "" : ", ") + k.name;
    }
    fail(at,
         "unsupported app-layer event '" + std::string(name) + "'" +
             (known.empty() ? std::string(" (events exist for http and dns)")
                            : " (" + std::string(proto) + " events: " + known + ")"),
         "unsupported app-layer event");
  }
  const AppProto proto = protocol_of(e->fact);
  if (rule_.app_proto != AppProto::kNone && rule_.app_proto != proto) {
    fail(at,
         "'" + std::string(name) + "' is an event of " + std::string(core::to_string(proto)) +
             ", the rule is for " + std::string(core::to_string(rule_.app_proto)),
         "app-layer event of another protocol");
  }
  rule_.app_proto = proto;
  AppFactTest t;
  t.fact = e->fact;
  t.bits = e->bits;
  rule_.app_tests.push_back(t);
}

// ftpdata_command:retr|stor — an FTP data connection by the control session's command for it; as
// in Suricata it makes the rule an ftp-data rule.
void RuleBuilder::ftpdata_command(std::string_view v, size_t at) {
  v = trim(v);
  if (v == "retr") {
    rule_.ftpdata_command = core::FtpDataCommand::kRetr;
  } else if (v == "stor") {
    rule_.ftpdata_command = core::FtpDataCommand::kStor;
  } else {
    fail(at, "'ftpdata_command' expects retr or stor, got '" + std::string(v) + "'",
         "'ftpdata_command' with a bad value");
  }
  if (rule_.app_proto != AppProto::kNone && rule_.app_proto != AppProto::kFtpData) {
    fail(at,
         "'ftpdata_command' applies to ftp-data, but the rule is for " +
             std::string(core::to_string(rule_.app_proto)),
         "'ftpdata_command' outside ftp-data");
  }
  rule_.app_proto = AppProto::kFtpData;
}

// threshold:type limit|threshold|both, track by_src|by_dst|by_rule|by_both, count N, seconds T;
// detection_filter:track ..., count N, seconds T. The parts may come in any order.
void RuleBuilder::alert_rate(std::string_view keyword, std::string_view v, size_t at) {
  const std::string k(keyword);
  if (rule_.rate) {
    fail(at, "'" + k + "': a rule takes one threshold or detection_filter",
         "more than one threshold/detection_filter");
  }
  AlertRate r;
  const bool filter = keyword == "detection_filter";
  if (filter) r.kind = AlertRate::Kind::kDetectionFilter;
  bool type = filter, track = false, count = false, seconds = false;
  for (const std::string_view part : split_args(v)) {
    const auto space = part.find_first_of(" \t");
    const std::string_view name = part.substr(0, space);
    const std::string_view value =
        space == std::string_view::npos ? std::string_view() : trim(part.substr(space));
    int64_t n = 0;
    if (name == "type" && !filter) {
      if (value == "limit")
        r.kind = AlertRate::Kind::kLimit;
      else if (value == "threshold")
        r.kind = AlertRate::Kind::kThreshold;
      else if (value == "both")
        r.kind = AlertRate::Kind::kBoth;
      else
        fail(at,
             "'" + k + "': type must be limit, threshold or both, got '" + std::string(value) + "'",
             "'" + k + "' with a bad type");
      type = true;
    } else if (name == "track") {
      if (value == "by_src")
        r.track = AlertRate::Track::kBySrc;
      else if (value == "by_dst")
        r.track = AlertRate::Track::kByDst;
      else if (value == "by_rule")
        r.track = AlertRate::Track::kByRule;
      else if (value == "by_both")
        r.track = AlertRate::Track::kByBoth;
      else
        fail(at,
             "'" + k + "': track must be by_src, by_dst, by_rule or by_both, got '" +
                 std::string(value) + "'",
             "'" + k + "' with a bad track");
      track = true;
    } else if ((name == "count" || name == "seconds") && parse_int(value, n) && n >= 1 &&
               n <= UINT32_MAX) {
      (name == "count" ? r.count : r.seconds) = static_cast<uint32_t>(n);
      (name == "count" ? count : seconds) = true;
    } else {
      fail(at, "'" + k + "': unexpected '" + std::string(part) + "'",
           "'" + k + "' with a bad part");
    }
  }
  if (!type || !track || !count || !seconds) {
    fail(at,
         "'" + k + "' needs " + (filter ? "" : "type, ") + "track, count and seconds (e.g. " +
             (filter ? "track by_src, count 5, seconds 60"
                     : "type limit, track by_src, count 1, seconds 60") +
             ")",
         "'" + k + "' incomplete");
  }
  rule_.rate = r;
}

// stream_size:server|client|both|either,OPERATOR,N with OPERATOR one of < > = != <= >=.
void RuleBuilder::stream_size(std::string_view v, size_t at) {
  const auto args = split_args(v);
  if (args.size() != 3) {
    fail(at, "'stream_size' expects SIDE,OPERATOR,NUMBER (e.g. server,<,6)",
         "'stream_size' with a bad value");
  }
  StreamSize s;
  if (args[0] == "server")
    s.side = StreamSize::Side::kServer;
  else if (args[0] == "client")
    s.side = StreamSize::Side::kClient;
  else if (args[0] == "both")
    s.side = StreamSize::Side::kBoth;
  else if (args[0] == "either")
    s.side = StreamSize::Side::kEither;
  else
    fail(at,
         "'stream_size': side must be server, client, both or either, got '" +
             std::string(args[0]) + "'",
         "'stream_size' with a bad side");
  const std::string_view op = args[1];
  if (op != "<" && op != ">" && op != "=" && op != "!=" && op != "<=" && op != ">=") {
    fail(at, "'stream_size': operator must be <, >, =, !=, <= or >=, got '" + std::string(op) + "'",
         "'stream_size' with a bad operator");
  }
  // The same comparison as the integer keywords, written without the comma.
  s.size = size_condition("stream_size",
                          std::string(op == "="    ? ""
                                      : op == "!=" ? "!"
                                                   : op) +
                              std::string(args[2]),
                          at);
  rule_.stream_size = s;
}

// flowbits:set|unset|toggle|isset|isnotset,NAME[|NAME...|&NAME...]; flowbits:noalert.
void RuleBuilder::flowbits(std::string_view v, size_t at) {
  v = trim(v);
  const auto comma = v.find(',');
  const std::string_view cmd = trim(v.substr(0, comma));
  if (cmd == "noalert") {
    if (comma != std::string_view::npos)
      fail(at, "'flowbits:noalert' takes no name", "'flowbits:noalert' with a name");
    rule_.noalert = true;
    return;
  }
  FlowbitOp op;
  if (const auto c = bit_command(cmd)) {
    op.cmd = *c;
  } else {
    fail(at,
         "'flowbits': unknown command '" + std::string(cmd) +
             "' (expected set, unset, toggle, isset, isnotset or noalert)",
         "'flowbits' with an unknown command");
  }
  const std::string_view names = comma == std::string_view::npos ? "" : trim(v.substr(comma + 1));
  if (names.empty()) {
    fail(at, "'flowbits:" + std::string(cmd) + "' needs a flowbit name",
         "'flowbits' without a name");
  }
  const bool has_or = names.find('|') != std::string_view::npos;
  if (has_or && names.find('&') != std::string_view::npos) {
    fail(at, "'flowbits': '|' and '&' cannot be mixed", "'flowbits' mixing | and &");
  }
  if (has_or && !op.is_condition()) {
    fail(at, "'flowbits': '|' (any of) is only for isset and isnotset",
         "'flowbits' with | outside isset/isnotset");
  }
  op.any = has_or;
  const char sep = has_or ? '|' : '&';
  std::string_view rest = names;
  while (true) {
    const auto at_sep = rest.find(sep);
    const std::string_view name = trim(rest.substr(0, at_sep));
    if (name.empty() || name.find_first_of(" \t,") != std::string_view::npos) {
      fail(at, "'flowbits': bad flowbit name '" + std::string(name) + "'",
           "'flowbits' with a bad name");
    }
    op.names.emplace_back(name);
    if (at_sep == std::string_view::npos) break;
    rest = rest.substr(at_sep + 1);
  }
  rule_.flowbits.push_back(std::move(op));
}

// flowint:NAME,OP,VALUE or flowint:NAME,isset|notset|isnotset (Suricata's syntax).
void RuleBuilder::flowint(std::string_view v, size_t at) {
  const std::vector<std::string_view> args = split_args(trim(v));
  const auto bad = [&](const std::string& why) {
    fail(at, "'flowint': " + why, "'flowint' malformed");
  };
  FlowintOp op;
  if (args.size() < 2 || args.size() > 3 || args[0].empty()) {
    bad("expects NAME,OPERATOR,VALUE or NAME,isset|notset, got '" + std::string(v) + "'");
  }
  op.name = std::string(args[0]);
  static const std::pair<std::string_view, FlowintOp::Op> kOps[] = {
      {"+", FlowintOp::Op::kAdd},         {"-", FlowintOp::Op::kSub},
      {"=", FlowintOp::Op::kSet},         {"==", FlowintOp::Op::kEq},
      {"!=", FlowintOp::Op::kNe},         {"<", FlowintOp::Op::kLt},
      {"<=", FlowintOp::Op::kLe},         {">", FlowintOp::Op::kGt},
      {">=", FlowintOp::Op::kGe},         {"isset", FlowintOp::Op::kIsSet},
      {"notset", FlowintOp::Op::kNotSet}, {"isnotset", FlowintOp::Op::kNotSet}};
  const auto found = std::find_if(std::begin(kOps), std::end(kOps),
                                  [&](const auto& o) { return o.first == args[1]; });
  if (found == std::end(kOps)) {
    bad("unknown operator '" + std::string(args[1]) +
        "' (expected +, -, =, ==, !=, <, <=, >, >=, isset or notset)");
  }
  op.op = found->second;
  const bool takes_value = op.op != FlowintOp::Op::kIsSet && op.op != FlowintOp::Op::kNotSet;
  if (takes_value != (args.size() == 3)) {
    bad(takes_value ? "'" + std::string(args[1]) + "' needs a value"
                    : "'" + std::string(args[1]) + "' takes no value");
  }
  if (takes_value) {
    const std::string_view value = args[2];
    int64_t n = 0;
    if (!value.empty() && std::isalpha(static_cast<unsigned char>(value.front()))) {
      op.value_name = std::string(value);
    } else if (parse_int(value, n) && n >= 0 && n <= UINT32_MAX) {
      op.value = static_cast<uint32_t>(n);
    } else {
      bad("value must be 0.." + std::to_string(UINT32_MAX) + " or a flowint name, got '" +
          std::string(value) + "'");
    }
  }
  rule_.flowints.push_back(std::move(op));
}

// xbits:CMD,NAME,track ip_src|ip_dst|ip_pair[,expire N] (Suricata's syntax; `noalert` alone as
// for flowbits).
void RuleBuilder::xbits(std::string_view v, size_t at) {
  const std::vector<std::string_view> args = split_args(trim(v));
  if (args.size() == 1 && args[0] == "noalert") {
    rule_.noalert = true;
    return;
  }
  const auto bad = [&](const std::string& why) {
    fail(at, "'xbits': " + why, "'xbits' malformed");
  };
  if (args.size() < 3 || args.size() > 4) {
    bad("expects CMD,NAME,track ip_src|ip_dst|ip_pair[,expire SECONDS], got '" + std::string(v) +
        "'");
  }
  XbitOp op;
  const auto cmd = bit_command(args[0]);
  if (!cmd) {
    bad("unknown command '" + std::string(args[0]) +
        "' (expected set, unset, toggle, isset, isnotset or noalert)");
  }
  op.cmd = *cmd;
  if (args[1].empty() || args[1].find_first_of(" \t|&") != std::string_view::npos) {
    bad("bad name '" + std::string(args[1]) + "'");
  }
  op.name = std::string(args[1]);
  const auto value_of = [&](std::string_view arg, std::string_view key) -> std::string_view {
    if (arg.substr(0, key.size()) != key || arg.size() == key.size() ||
        !std::isspace(static_cast<unsigned char>(arg[key.size()]))) {
      return {};
    }
    return trim(arg.substr(key.size()));
  };
  const std::string_view track = value_of(args[2], "track");
  if (track == "ip_src") {
    op.track = XbitOp::Track::kIpSrc;
  } else if (track == "ip_dst") {
    op.track = XbitOp::Track::kIpDst;
  } else if (track == "ip_pair") {
    op.track = XbitOp::Track::kIpPair;
  } else {
    bad("expects 'track ip_src', 'track ip_dst' or 'track ip_pair', got '" + std::string(args[2]) +
        "'");
  }
  if (args.size() == 4) {
    int64_t seconds = 0;
    if (!parse_int(value_of(args[3], "expire"), seconds) || seconds < 1 || seconds > UINT32_MAX) {
      bad("expects 'expire SECONDS' (1 or more), got '" + std::string(args[3]) + "'");
    }
    op.expire = static_cast<uint32_t>(seconds);
  }
  rule_.xbits.push_back(std::move(op));
}

}  // namespace spanguard::rules::detail
