// Golden tests of the rule grammar through RuleParser::parse_text: header mapping, every option
// keyword and buffer, first-in-buffer relative matches, and every diagnostic the parser emits
// (exact line and column, grouping reason, and that the neighbouring good rules still load).
#include "spanguard/rules/parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/registry.h"

namespace spanguard::rules {
namespace {

constexpr std::string_view kClasses =
    "config classification: trojan-activity,A Network Trojan was detected,1\n"
    "config classification: misc-activity,Misc activity,3\n"
    "config classification: web-application-attack,Web Application Attack,1\n";

const Classifications& test_classes() {
  static const Classifications classes = [] {
    Classifications c;
    const auto errors = c.load_text(kClasses, "classification.config");
    EXPECT_TRUE(errors.empty());
    return c;
  }();
  return classes;
}

// A buffer's id in the application layer's registry, by sticky name.
Buffer B(const char* name) { return applayer::rule_registry().find_sticky(name); }

RuleSet parse(std::string_view text) {
  RuleParser parser(default_variables(), &test_classes(), applayer::rule_registry());
  parser.parse_text(text, "t.rules");
  return parser.take();
}

std::string describe(const RuleSet& set) {
  std::string out;
  for (const Diagnostic& d : set.diagnostics) out += "\n  " + d.to_string();
  return out;
}

// The one rule `text` holds, which must load without any diagnostic.
std::optional<Rule> one(std::string_view text) {
  RuleSet set = parse(text);
  if (set.rules.size() != 1 || !set.diagnostics.empty() || set.failed != 0) {
    ADD_FAILURE() << "expected one clean rule from: " << text << describe(set);
    return std::nullopt;
  }
  return std::move(set.rules.front());
}

// A tcp rule with a msg and sid:1 around `options`.
std::optional<Rule> with_options(std::string_view options) {
  return one("alert tcp any any -> any any (msg:\"m\"; " + std::string(options) + " sid:1;)");
}

const Diagnostic* first_error(const RuleSet& set) {
  for (const Diagnostic& d : set.diagnostics) {
    if (d.severity == Diagnostic::Severity::kError) return &d;
  }
  return nullptr;
}

// ---- header ------------------------------------------------------------------------------------

TEST(RuleParser, MapsEveryAction) {
  const std::pair<const char*, Action> cases[] = {
      {"alert", Action::kAlert},
      {"pass", Action::kPass},
      {"drop", Action::kDrop},
      {"reject", Action::kRejectBoth},
      {"rejectsrc", Action::kRejectSrc},
      {"rejectdst", Action::kRejectDst},
      {"rejectboth", Action::kRejectBoth},
  };
  for (const auto& [name, action] : cases) {
    const auto rule = one(std::string(name) + " tcp any any -> any any (msg:\"m\"; sid:1;)");
    ASSERT_TRUE(rule) << name;
    EXPECT_EQ(rule->action, action) << name;
  }
  EXPECT_STREQ(to_string(Action::kAlert), "alert");
  EXPECT_STREQ(to_string(Action::kPass), "pass");
  EXPECT_STREQ(to_string(Action::kDrop), "drop");
  EXPECT_STREQ(to_string(Action::kRejectSrc), "rejectsrc");
  EXPECT_STREQ(to_string(Action::kRejectDst), "rejectdst");
  EXPECT_STREQ(to_string(Action::kRejectBoth), "rejectboth");
}

TEST(RuleParser, MapsEveryProtocolToTransportAndAppProto) {
  struct Case {
    const char* name;
    Transport transport;
    AppProto app;
  };
  const Case cases[] = {
      {"ip", Transport::kAny, AppProto::kNone},
      {"tcp", Transport::kTcp, AppProto::kNone},
      {"udp", Transport::kUdp, AppProto::kNone},
      {"icmp", Transport::kIcmp, AppProto::kNone},
      {"http", Transport::kTcp, AppProto::kHttp},
      {"tls", Transport::kTcp, AppProto::kTls},
      {"dns", Transport::kAny, AppProto::kDns},
      {"ftp", Transport::kTcp, AppProto::kFtp},
      {"http1", Transport::kTcp, AppProto::kHttp},
      {"ftp-data", Transport::kTcp, AppProto::kFtpData},
      {"ssh", Transport::kTcp, AppProto::kSsh},
      {"smtp", Transport::kTcp, AppProto::kSmtp},
  };
  for (const Case& c : cases) {
    const auto rule =
        one("alert " + std::string(c.name) + " any any -> any any (msg:\"m\"; sid:1;)");
    ASSERT_TRUE(rule) << c.name;
    EXPECT_EQ(rule->transport, c.transport) << c.name;
    EXPECT_EQ(rule->app_proto, c.app) << c.name;
    EXPECT_FALSE(rule->flow.has_value()) << c.name;
  }
}

TEST(RuleParser, SizeConditionsTakeEverySuricataIntegerForm) {
  struct Case {
    const char* text;
    SizeCondition::Op op;
    uint32_t a, b;
  };
  const Case cases[] = {
      {"10", SizeCondition::Op::kEqual, 10, 0},
      {"!10", SizeCondition::Op::kNotEqual, 10, 0},
      {"<10", SizeCondition::Op::kLess, 10, 0},
      {"<=10", SizeCondition::Op::kLessEqual, 10, 0},
      {">10", SizeCondition::Op::kGreater, 10, 0},
      {">=10", SizeCondition::Op::kGreaterEqual, 10, 0},
      {"5<>10", SizeCondition::Op::kRange, 5, 10},
  };
  for (const Case& c : cases) {
    const auto rule = with_options(std::string("dsize:") + c.text + ";");
    ASSERT_TRUE(rule) << c.text;
    EXPECT_EQ(rule->dsize->op, c.op) << c.text;
    EXPECT_EQ(rule->dsize->a, c.a) << c.text;
    EXPECT_EQ(rule->dsize->b, c.b) << c.text;
  }
  SizeCondition range{SizeCondition::Op::kRange, 5, 10};
  EXPECT_FALSE(range.matches(5));  // exclusive, as Suricata's integer ranges
  EXPECT_TRUE(range.matches(6));
  EXPECT_FALSE(range.matches(10));
  EXPECT_TRUE((SizeCondition{SizeCondition::Op::kLessEqual, 3, 0}.matches(3)));
  EXPECT_FALSE((SizeCondition{SizeCondition::Op::kNotEqual, 3, 0}.matches(3)));
}

TEST(RuleParser, BsizeAppliesToTheCurrentStickyBuffer) {
  const auto rule = with_options("http.host; content:\"a\"; bsize:>=9; http.uri; bsize:<4;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->buffer_sizes.size(), 2u);
  EXPECT_EQ(rule->buffer_sizes[0].buffer, B("http.host"));
  EXPECT_EQ(rule->buffer_sizes[0].size.op, SizeCondition::Op::kGreaterEqual);
  EXPECT_EQ(rule->buffer_sizes[1].buffer, B("http.uri"));
  EXPECT_EQ(rule->buffer_sizes[1].size.a, 4u);
  const RuleSet bare = parse("alert tcp any any -> any any (msg:\"m\"; bsize:10; sid:1;)");
  EXPECT_EQ(bare.failed, 1u);  // no sticky buffer to measure
}

TEST(RuleParser, UrilenMeasuresTheNormalisedOrRawUri) {
  const auto norm = with_options("urilen:>100;");
  const auto raw = with_options("urilen:10<>20,raw;");
  ASSERT_TRUE(norm && raw);
  EXPECT_EQ(norm->buffer_sizes[0].buffer, B("http.uri"));
  EXPECT_EQ(norm->buffer_sizes[0].size.op, SizeCondition::Op::kGreater);
  EXPECT_EQ(raw->buffer_sizes[0].buffer, B("http.uri.raw"));
  EXPECT_EQ(raw->buffer_sizes[0].size.op, SizeCondition::Op::kRange);
  EXPECT_EQ(parse("alert tcp any any -> any any (msg:\"m\"; urilen:5,both; sid:1;)").failed, 1u);
}

TEST(RuleParser, AppLayerProtocolNamesAProtocolOrItsNegation) {
  const auto http = with_options("app-layer-protocol:http;");
  const auto not_tls = with_options("app-layer-protocol:!tls,final;");
  const auto failed = with_options("app-layer-protocol:failed;");
  ASSERT_TRUE(http && not_tls && failed);
  EXPECT_EQ(http->app_layer->proto, AppProto::kHttp);
  EXPECT_FALSE(http->app_layer->negated);
  EXPECT_EQ(not_tls->app_layer->proto, AppProto::kTls);
  EXPECT_TRUE(not_tls->app_layer->negated);
  EXPECT_EQ(failed->app_layer->proto, AppProto::kFailed);
  EXPECT_EQ(
      parse("alert tcp any any -> any any (msg:\"m\"; app-layer-protocol:gopher; sid:1;)").failed,
      1u);
}

TEST(RuleParser, XbitsCommandsTracksAndExpiry) {
  const auto rule = with_options(
      "xbits:set,ET.dropsite,track ip_src; xbits:isset, ET.PROPFIND, track ip_dst, expire 360; "
      "xbits:toggle,p,track ip_pair,expire 15; xbits:noalert;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->xbits.size(), 3u);
  EXPECT_EQ(rule->xbits[0].cmd, FlowbitOp::Cmd::kSet);
  EXPECT_EQ(rule->xbits[0].name, "ET.dropsite");
  EXPECT_EQ(rule->xbits[0].track, XbitOp::Track::kIpSrc);
  EXPECT_EQ(rule->xbits[0].expire, 30u);  // Suricata's default
  EXPECT_EQ(rule->xbits[1].cmd, FlowbitOp::Cmd::kIsSet);
  EXPECT_EQ(rule->xbits[1].name, "ET.PROPFIND");
  EXPECT_EQ(rule->xbits[1].track, XbitOp::Track::kIpDst);
  EXPECT_EQ(rule->xbits[1].expire, 360u);
  EXPECT_EQ(rule->xbits[2].track, XbitOp::Track::kIpPair);
  EXPECT_TRUE(rule->noalert);
  for (const auto& [options, message] : std::vector<std::pair<std::string, std::string>>{
           {"xbits:set,a;", "expects CMD,NAME,track"},
           {"xbits:flip,a,track ip_src;", "unknown command 'flip'"},
           {"xbits:set,a,track by_src;", "expects 'track ip_src'"},
           {"xbits:set,a,track ip_src,expire 0;", "expects 'expire SECONDS'"},
           {"xbits:set,a|b,track ip_src;", "bad name 'a|b'"}}) {
    const RuleSet set = parse("alert tcp any any -> any any (msg:\"m\"; " + options + " sid:1;)");
    ASSERT_NE(first_error(set), nullptr) << options;
    EXPECT_NE(first_error(set)->message.find(message), std::string::npos) << describe(set);
  }
}

TEST(RuleParser, FlowintOperatorsValuesAndErrors) {
  const auto rule = with_options(
      "flowint: ET.infostealer.dll.download, +, 1; flowint:n,>=,max; flowint:n,notset;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->flowints.size(), 3u);
  EXPECT_EQ(rule->flowints[0].name, "ET.infostealer.dll.download");
  EXPECT_EQ(rule->flowints[0].op, FlowintOp::Op::kAdd);
  EXPECT_EQ(rule->flowints[0].value, 1u);
  EXPECT_EQ(rule->flowints[1].op, FlowintOp::Op::kGe);
  EXPECT_EQ(rule->flowints[1].value_name, "max");
  EXPECT_EQ(rule->flowints[2].op, FlowintOp::Op::kNotSet);
  for (const auto& [options, message] : std::vector<std::pair<std::string, std::string>>{
           {"flowint:n;", "expects NAME,OPERATOR,VALUE"},
           {"flowint:n,*,2;", "unknown operator '*'"},
           {"flowint:n,+;", "'+' needs a value"},
           {"flowint:n,isset,1;", "'isset' takes no value"},
           {"flowint:n,=,-1;", "value must be 0..4294967295"}}) {
    const RuleSet set = parse("alert tcp any any -> any any (msg:\"m\"; " + options + " sid:1;)");
    ASSERT_NE(first_error(set), nullptr) << options;
    EXPECT_NE(first_error(set)->message.find(message), std::string::npos) << describe(set);
  }
}

TEST(RuleParser, FtpdataCommandMakesAnFtpDataRule) {
  const auto stor = with_options("ftpdata_command:stor; content:\"x\";");
  const auto retr =
      one("alert ftp-data any any -> any any (msg:\"m\"; ftpdata_command:retr; sid:1;)");
  ASSERT_TRUE(stor && retr);
  EXPECT_EQ(stor->ftpdata_command, core::FtpDataCommand::kStor);
  EXPECT_EQ(stor->app_proto, AppProto::kFtpData);
  EXPECT_EQ(retr->ftpdata_command, core::FtpDataCommand::kRetr);

  const RuleSet list =
      parse("alert tcp any any -> any any (msg:\"m\"; ftpdata_command:list; sid:1;)");
  ASSERT_NE(first_error(list), nullptr);
  EXPECT_NE(first_error(list)->message.find("expects retr or stor, got 'list'"), std::string::npos)
      << describe(list);
  const RuleSet http =
      parse("alert http any any -> any any (msg:\"m\"; ftpdata_command:stor; sid:1;)");
  ASSERT_NE(first_error(http), nullptr);
  EXPECT_NE(first_error(http)->message.find("applies to ftp-data, but the rule is for http"),
            std::string::npos)
      << describe(http);
}

TEST(RuleParser, FlowbitsCommandsNamesAndGroups) {
  const auto rule = with_options(
      "flowbits:set,a; flowbits:isset,b|c; flowbits:isnotset,d&e; flowbits:toggle,f; "
      "flowbits:unset,g&h; flowbits:noalert;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->flowbits.size(), 5u);
  EXPECT_EQ(rule->flowbits[0].cmd, FlowbitOp::Cmd::kSet);
  EXPECT_EQ(rule->flowbits[0].names, std::vector<std::string>{"a"});
  EXPECT_EQ(rule->flowbits[1].cmd, FlowbitOp::Cmd::kIsSet);
  EXPECT_TRUE(rule->flowbits[1].any);
  EXPECT_EQ(rule->flowbits[1].names, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(rule->flowbits[2].cmd, FlowbitOp::Cmd::kIsNotSet);
  EXPECT_FALSE(rule->flowbits[2].any);
  EXPECT_EQ(rule->flowbits[2].names, (std::vector<std::string>{"d", "e"}));
  EXPECT_EQ(rule->flowbits[3].cmd, FlowbitOp::Cmd::kToggle);
  EXPECT_EQ(rule->flowbits[4].cmd, FlowbitOp::Cmd::kUnset);
  EXPECT_TRUE(rule->noalert);
  const auto plain = with_options("noalert;");
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->noalert);
}

TEST(RuleParser, FlowbitsErrorsSayWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"flowbits:check,a;", "unknown command 'check'"},
      {"flowbits:set;", "needs a flowbit name"},
      {"flowbits:set,a|b;", "only for isset and isnotset"},
      {"flowbits:isset,a|b&c;", "cannot be mixed"},
      {"flowbits:isset,a||b;", "bad flowbit name"},
      {"flowbits:noalert,x;", "takes no name"},
  };
  for (const auto& [options, message] : cases) {
    const RuleSet set =
        parse(std::string("alert tcp any any -> any any (msg:\"m\"; ") + options + " sid:1;)");
    ASSERT_EQ(set.failed, 1u) << options;
    EXPECT_NE(set.diagnostics.front().message.find(message), std::string::npos)
        << options << ": " << set.diagnostics.front().message;
  }
}

TEST(RuleParser, ThresholdAndDetectionFilterInAnyOrder) {
  const auto limit = with_options("threshold: type limit, track by_src, seconds 60, count 1;");
  const auto both = with_options("threshold:count 5,type both,seconds 10,track by_both;");
  const auto filter = with_options("detection_filter:track by_dst, count 4, seconds 20;");
  ASSERT_TRUE(limit && both && filter);
  EXPECT_EQ(limit->rate->kind, AlertRate::Kind::kLimit);
  EXPECT_EQ(limit->rate->track, AlertRate::Track::kBySrc);
  EXPECT_EQ(limit->rate->count, 1u);
  EXPECT_EQ(limit->rate->seconds, 60u);
  EXPECT_EQ(both->rate->kind, AlertRate::Kind::kBoth);
  EXPECT_EQ(both->rate->track, AlertRate::Track::kByBoth);
  EXPECT_EQ(both->rate->count, 5u);
  EXPECT_EQ(filter->rate->kind, AlertRate::Kind::kDetectionFilter);
  EXPECT_EQ(filter->rate->track, AlertRate::Track::kByDst);
  const std::pair<const char*, const char*> errors[] = {
      {"threshold: type limit, track by_src, count 1;", "needs type, track, count and seconds"},
      {"threshold: type often, track by_src, count 1, seconds 1;", "type must be"},
      {"threshold: type limit, track by_host, count 1, seconds 1;", "track must be"},
      {"threshold: type limit, track by_src, count 0, seconds 1;", "unexpected 'count 0'"},
      {"detection_filter: type limit, track by_src, count 1, seconds 1;", "unexpected 'type"},
      {"threshold: type limit, track by_src, count 1, seconds 1; "
       "detection_filter: track by_src, count 1, seconds 1;",
       "one threshold or detection_filter"},
  };
  for (const auto& [options, message] : errors) {
    const RuleSet set =
        parse(std::string("alert tcp any any -> any any (msg:\"m\"; ") + options + " sid:1;)");
    ASSERT_EQ(set.failed, 1u) << options;
    EXPECT_NE(set.diagnostics.front().message.find(message), std::string::npos)
        << options << ": " << set.diagnostics.front().message;
  }
}

TEST(RuleParser, TcpPktAndTcpStreamImplyTheirStreamFlowOption) {
  const auto pkt = one("alert tcp-pkt any any -> any any (msg:\"m\"; sid:1;)");
  ASSERT_TRUE(pkt);
  EXPECT_EQ(pkt->transport, Transport::kTcp);
  EXPECT_EQ(pkt->app_proto, AppProto::kNone);
  ASSERT_TRUE(pkt->flow);
  EXPECT_TRUE(pkt->flow->no_stream);
  EXPECT_FALSE(pkt->flow->only_stream);
  EXPECT_FALSE(pkt->flow->established);

  const auto stream =
      one("alert tcp-stream any any -> any any (msg:\"m\"; flow:established,to_server; sid:1;)");
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->transport, Transport::kTcp);
  ASSERT_TRUE(stream->flow);
  EXPECT_TRUE(stream->flow->only_stream);
  EXPECT_FALSE(stream->flow->no_stream);
  EXPECT_TRUE(stream->flow->established);  // the explicit flow is kept
  EXPECT_TRUE(stream->flow->to_server);
}

TEST(RuleParser, ArrowIsOneWayAndDiamondIsBidirectional) {
  const auto one_way = one("alert tcp any any -> any any (msg:\"m\"; sid:1;)");
  ASSERT_TRUE(one_way);
  EXPECT_FALSE(one_way->bidirectional);
  const auto both = one("alert tcp any any <> any any (msg:\"m\"; sid:1;)");
  ASSERT_TRUE(both);
  EXPECT_TRUE(both->bidirectional);
}

TEST(RuleParser, HeaderAddressesAndPortsIncludingListsWithSpaces) {
  const auto rule =
      one("alert tcp [198.51.100.0/24, !198.51.100.7] [1024:, !8080] -> $EXTERNAL_NET [80, 443]"
          "(msg:\"m\"; sid:1;)");
  ASSERT_TRUE(rule);
  const auto a = [](const char* text) { return *core::IpAddress::parse(text); };
  EXPECT_TRUE(rule->src.contains(a("198.51.100.6")));
  EXPECT_FALSE(rule->src.contains(a("198.51.100.7")));
  EXPECT_FALSE(rule->src.contains(a("203.0.113.6")));
  EXPECT_FALSE(rule->src_ports.contains(1023));
  EXPECT_TRUE(rule->src_ports.contains(1024));
  EXPECT_FALSE(rule->src_ports.contains(8080));
  EXPECT_TRUE(rule->dst.contains(a("203.0.113.6")));  // outside the default HOME_NET
  EXPECT_TRUE(rule->dst_ports.contains(80));
  EXPECT_TRUE(rule->dst_ports.contains(443));
  EXPECT_FALSE(rule->dst_ports.contains(81));
  EXPECT_FALSE(rule->src.is_any());

  const auto any = one("alert ip any any -> any any (msg:\"m\"; sid:1;)");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->src.is_any());
  EXPECT_TRUE(any->dst.is_any());
  EXPECT_TRUE(any->src_ports.is_any());
  EXPECT_TRUE(any->dst_ports.is_any());
}

TEST(RuleParser, CustomVariablesAreUsedForTheHeader) {
  Variables vars = default_variables();
  vars.addresses["HOME_NET"] = "[198.51.100.0/24,2001:db8::/32]";
  vars.ports["WEB"] = "[80,8080]";
  RuleParser parser(vars, nullptr);
  parser.parse_text("alert tcp $EXTERNAL_NET any -> $HOME_NET $WEB (msg:\"m\"; sid:1;)", "t.rules");
  const RuleSet set = parser.take();
  ASSERT_EQ(set.rules.size(), 1u) << describe(set);
  const Rule& rule = set.rules[0];
  EXPECT_TRUE(rule.dst.contains(*core::IpAddress::parse("198.51.100.9")));
  EXPECT_TRUE(rule.dst.contains(*core::IpAddress::parse("2001:db8::9")));
  EXPECT_FALSE(rule.src.contains(*core::IpAddress::parse("198.51.100.9")));
  EXPECT_TRUE(rule.src.contains(*core::IpAddress::parse("203.0.113.9")));
  EXPECT_TRUE(rule.dst_ports.contains(8080));
  EXPECT_FALSE(rule.dst_ports.contains(443));
}

// ---- identity, classification, metadata ------------------------------------------------------

TEST(RuleParser, ReadsMsgSidRevGidAndKeepsDefaults) {
  const auto rule =
      one("alert tcp any any -> any any (msg:\"ET EXPLOIT \\\"quoted\\\" \\; semi\"; gid:3; sid:7; "
          "rev:12;)");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->msg, "ET EXPLOIT \"quoted\" ; semi");
  EXPECT_EQ(rule->gid, 3u);
  EXPECT_EQ(rule->sid, 7u);
  EXPECT_EQ(rule->rev, 12u);

  const auto defaults = one("alert tcp any any -> any any (msg:\"m\"; sid:4294967;)");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->gid, 1u);
  EXPECT_EQ(defaults->rev, 1u);
  EXPECT_EQ(defaults->sid, 4294967u);
  EXPECT_EQ(defaults->priority, 3u);
  EXPECT_TRUE(defaults->classtype.empty());
  EXPECT_TRUE(defaults->category.empty());
  EXPECT_EQ(defaults->file, "t.rules");
  EXPECT_EQ(defaults->line, 1);
  EXPECT_EQ(defaults->text, "alert tcp any any -> any any (msg:\"m\"; sid:4294967;)");
}

TEST(RuleParser, ClasstypeResolvesCategoryAndPriority) {
  const auto rule = with_options("classtype: trojan-activity;");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->classtype, "trojan-activity");
  EXPECT_EQ(rule->category, "A Network Trojan was detected");
  EXPECT_EQ(rule->priority, 1u);

  const auto misc = with_options("classtype:misc-activity;");
  ASSERT_TRUE(misc);
  EXPECT_EQ(misc->category, "Misc activity");
  EXPECT_EQ(misc->priority, 3u);
}

TEST(RuleParser, ExplicitPriorityWinsOverTheClasstypeInEitherOrder) {
  const auto after = with_options("classtype:misc-activity; priority:1;");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->category, "Misc activity");
  EXPECT_EQ(after->priority, 1u);
  const auto before = with_options("priority:2; classtype:trojan-activity;");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->category, "A Network Trojan was detected");
  EXPECT_EQ(before->priority, 2u);
  const auto alone = with_options("priority:255;");
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->priority, 255u);
}

TEST(RuleParser, MetadataIsSplitIntoKeyValuePairsAcrossKeywords) {
  const auto rule = with_options(
      "metadata: former_category MALWARE, created_at 2020_01_01 ,deployment Perimeter; "
      "metadata:flagonly;");
  ASSERT_TRUE(rule);
  using Pair = std::pair<std::string, std::string>;
  const std::vector<Pair> expected = {{"former_category", "MALWARE"},
                                      {"created_at", "2020_01_01"},
                                      {"deployment", "Perimeter"},
                                      {"flagonly", ""}};
  EXPECT_EQ(rule->metadata, expected);
}

TEST(RuleParser, ReferencesKeepTypeAndValue) {
  const auto rule =
      with_options("reference:url,example.com/advisory?a=1; reference: cve , 2021-44228;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->references.size(), 2u);
  EXPECT_EQ(rule->references[0].type, "url");
  EXPECT_EQ(rule->references[0].value, "example.com/advisory?a=1");
  EXPECT_EQ(rule->references[1].type, "cve");
  EXPECT_EQ(rule->references[1].value, "2021-44228");
}

// ---- content -----------------------------------------------------------------------------------

TEST(RuleParser, ContentModifiersApplyToThePrecedingContent) {
  const auto rule = with_options(
      "content:\"abc\"; nocase; offset:2; depth:10; rawbytes; "
      "content:\"def\"; distance:1; within:8; fast_pattern; "
      "content:\"ghi\"; startswith; "
      "content:\"jkl\"; endswith; "
      "content: ! \"mno\"; "
      "content:\"pq\"; distance:-3;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->contents.size(), 6u);
  const Content& abc = rule->contents[0];
  EXPECT_EQ(abc.bytes, "abc");
  EXPECT_TRUE(abc.nocase);
  EXPECT_EQ(abc.offset, 2);
  EXPECT_EQ(abc.depth, 10);
  EXPECT_FALSE(abc.distance);
  EXPECT_FALSE(abc.within);
  EXPECT_FALSE(abc.relative());
  EXPECT_FALSE(abc.negated);
  EXPECT_FALSE(abc.fast_pattern);
  EXPECT_FALSE(abc.startswith);
  EXPECT_FALSE(abc.endswith);
  EXPECT_EQ(abc.buffer, kPayloadBuffer);

  const Content& def = rule->contents[1];
  EXPECT_EQ(def.bytes, "def");
  EXPECT_FALSE(def.nocase);
  EXPECT_EQ(def.distance, 1);  // not first in its buffer: stays relative
  EXPECT_EQ(def.within, 8);
  EXPECT_TRUE(def.relative());
  EXPECT_FALSE(def.offset);
  EXPECT_FALSE(def.depth);
  EXPECT_TRUE(def.fast_pattern);

  EXPECT_TRUE(rule->contents[2].startswith);
  EXPECT_FALSE(rule->contents[2].endswith);
  EXPECT_TRUE(rule->contents[3].endswith);
  EXPECT_FALSE(rule->contents[3].startswith);
  EXPECT_TRUE(rule->contents[4].negated);
  EXPECT_EQ(rule->contents[4].bytes, "mno");
  EXPECT_EQ(rule->contents[5].distance, -3);

  ASSERT_EQ(rule->matches.size(), 6u);
  for (size_t i = 0; i < rule->matches.size(); ++i) {
    EXPECT_EQ(rule->matches[i].kind, Match::Kind::kContent);
    EXPECT_EQ(rule->matches[i].index, i);
  }
}

TEST(RuleParser, ContentEscapesAndHexBlocksAreResolved) {
  const auto rule = with_options(
      "content:\"a\\\"b\\;c\\\\d\\:e\"; "
      "content:\"|41 42|\"; "
      "content:\"GET |20 2f|index|0d0a|\"; "
      "content:\"|00 ff  7F|\"; "
      "content:\"x|3b|y\";");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->contents.size(), 5u);
  EXPECT_EQ(rule->contents[0].bytes, "a\"b;c\\d:e");
  EXPECT_EQ(rule->contents[1].bytes, "AB");
  EXPECT_EQ(rule->contents[2].bytes, "GET  /index\r\n");  // the literal space and |20|
  EXPECT_EQ(rule->contents[3].bytes, std::string("\x00\xff\x7f", 3));
  EXPECT_EQ(rule->contents[4].bytes, "x;y");
}

TEST(RuleParser, DepthAndWithinMayEqualTheContentLength) {
  const auto rule = with_options("content:\"abc\"; depth:3; content:\"de\"; within:2;");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->contents.size(), 2u);
  EXPECT_EQ(rule->contents[0].depth, 3);
  EXPECT_EQ(rule->contents[1].within, 2);
  const auto limits = with_options("content:\"a\"; offset:1048560;");
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->contents[0].offset, 1048560);
}

TEST(RuleParser, FirstRelativeContentInABufferIsAnchoredToTheBufferStart) {
  // Nothing before it in the payload: distance becomes offset, within bounds the depth.
  const auto first = with_options("content:\"abc\"; distance:5; within:10;");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->contents.size(), 1u);
  const Content& c = first->contents[0];
  EXPECT_FALSE(c.relative());
  EXPECT_FALSE(c.distance);
  EXPECT_FALSE(c.within);
  EXPECT_EQ(c.offset, 5);
  ASSERT_TRUE(c.depth);

  const auto only_distance = with_options("content:\"abc\"; distance:4;");
  ASSERT_TRUE(only_distance);
  EXPECT_FALSE(only_distance->contents[0].relative());
  EXPECT_EQ(only_distance->contents[0].offset, 4);
  EXPECT_FALSE(only_distance->contents[0].depth);

  const auto zero_distance = with_options("content:\"abc\"; distance:0;");
  ASSERT_TRUE(zero_distance);
  EXPECT_FALSE(zero_distance->contents[0].relative());
  EXPECT_FALSE(zero_distance->contents[0].offset);
  EXPECT_FALSE(zero_distance->contents[0].depth);

  const auto only_within = with_options("content:\"abc\"; within:6;");
  ASSERT_TRUE(only_within);
  EXPECT_FALSE(only_within->contents[0].relative());
  EXPECT_FALSE(only_within->contents[0].offset);
  EXPECT_EQ(only_within->contents[0].depth, 6);

  // A content in another buffer does not count as "before": the uri content is first in its own.
  const auto other_buffer = with_options(
      "content:\"abc\"; http.uri; content:\"/x\"; distance:2; content:\"y\"; distance:0;");
  ASSERT_TRUE(other_buffer);
  ASSERT_EQ(other_buffer->contents.size(), 3u);
  EXPECT_FALSE(other_buffer->contents[1].relative());
  EXPECT_EQ(other_buffer->contents[1].offset, 2);
  EXPECT_TRUE(other_buffer->contents[2].relative());  // follows "/x" in the uri
  EXPECT_EQ(other_buffer->contents[2].distance, 0);

  // A pcre earlier in the same buffer does count.
  const auto after_pcre = with_options("pcre:\"/a+/\"; content:\"b\"; distance:1;");
  ASSERT_TRUE(after_pcre);
  EXPECT_TRUE(after_pcre->contents[0].relative());
  EXPECT_EQ(after_pcre->contents[0].distance, 1);
}

TEST(RuleParser, FirstInBufferWithinBecomesADepthCountedFromTheOffset) {
  const auto explicit_form = with_options("content:\"abc\"; offset:5; depth:10;");
  const auto relative_form = with_options("content:\"abc\"; distance:5; within:10;");
  ASSERT_TRUE(explicit_form && relative_form);
  EXPECT_EQ(relative_form->contents[0].offset, explicit_form->contents[0].offset);
  EXPECT_EQ(relative_form->contents[0].depth, explicit_form->contents[0].depth);
  const auto negative = with_options("content:\"abc\"; distance:-5; within:10;");
  ASSERT_TRUE(negative);
  EXPECT_FALSE(negative->contents[0].offset);
  EXPECT_EQ(negative->contents[0].depth, 5);
}

// ---- buffers -----------------------------------------------------------------------------------

struct BufferCase {
  const char* keyword;
  const char* buffer;  // sticky name
};

constexpr BufferCase kStickyBuffers[] = {
    {"http.uri", "http.uri"},
    {"http.uri.raw", "http.uri.raw"},
    {"http.method", "http.method"},
    {"http.host", "http.host"},
    {"http.user_agent", "http.user_agent"},
    {"http.header", "http.header"},
    {"http.header.raw", "http.header.raw"},
    {"http.cookie", "http.cookie"},
    {"http.request_body", "http.request_body"},
    {"http.stat_code", "http.stat_code"},
    {"http.response_body", "http.response_body"},
    {"file.data", "file.data"},
    {"file_data", "file.data"},
    {"http.content_type", "http.content_type"},
    {"http.request_line", "http.request_line"},
    {"http.referer", "http.referer"},
    {"http.header_names", "http.header_names"},
    {"tls.sni", "tls.sni"},
    {"tls_sni", "tls.sni"},
    {"dns.query", "dns.query"},
    {"dns_query", "dns.query"},
};

constexpr BufferCase kLegacyModifiers[] = {
    {"http_uri", "http.uri"},
    {"http_raw_uri", "http.uri.raw"},
    {"http_method", "http.method"},
    {"http_host", "http.host"},
    {"http_user_agent", "http.user_agent"},
    {"http_header", "http.header"},
    {"http_raw_header", "http.header.raw"},
    {"http_cookie", "http.cookie"},
    {"http_client_body", "http.request_body"},
    {"http_stat_code", "http.stat_code"},
    {"http_server_body", "http.response_body"},
};

TEST(RuleParser, StickyBufferAppliesToFollowingContentsAndPcresUntilPktData) {
  for (const BufferCase& b : kStickyBuffers) {
    const auto rule = with_options(std::string(b.keyword) +
                                   "; content:\"x\"; content:\"y\"; pcre:\"/z/\"; pkt_data; "
                                   "content:\"w\";");
    ASSERT_TRUE(rule) << b.keyword;
    ASSERT_EQ(rule->contents.size(), 3u) << b.keyword;
    ASSERT_EQ(rule->pcres.size(), 1u) << b.keyword;
    EXPECT_EQ(rule->contents[0].buffer, B(b.buffer)) << b.keyword;
    EXPECT_EQ(rule->contents[1].buffer, B(b.buffer)) << b.keyword;
    EXPECT_EQ(rule->pcres[0].buffer, B(b.buffer)) << b.keyword;
    EXPECT_EQ(rule->contents[2].buffer, kPayloadBuffer) << b.keyword;
  }
}

TEST(RuleParser, LegacyModifierAppliesOnlyToThePrecedingContent) {
  for (const BufferCase& b : kLegacyModifiers) {
    const auto rule =
        with_options("content:\"x\"; " + std::string(b.keyword) + "; content:\"y\"; pcre:\"/z/\";");
    ASSERT_TRUE(rule) << b.keyword;
    ASSERT_EQ(rule->contents.size(), 2u) << b.keyword;
    EXPECT_EQ(rule->contents[0].buffer, B(b.buffer)) << b.keyword;
    EXPECT_EQ(rule->contents[1].buffer, kPayloadBuffer) << b.keyword;
    EXPECT_EQ(rule->pcres[0].buffer, kPayloadBuffer) << b.keyword;
  }
}

TEST(RuleParser, StickyAndLegacyFormsGiveTheSameBuffer) {
  const auto sticky = with_options("http.uri; content:\"/admin\"; nocase;");
  const auto legacy = with_options("content:\"/admin\"; http_uri; nocase;");
  const auto uricontent = with_options("uricontent:\"/admin\"; nocase;");
  ASSERT_TRUE(sticky && legacy && uricontent);
  for (const Rule* r : {&*sticky, &*legacy, &*uricontent}) {
    ASSERT_EQ(r->contents.size(), 1u);
    EXPECT_EQ(r->contents[0].bytes, "/admin");
    EXPECT_EQ(r->contents[0].buffer, B("http.uri"));
    EXPECT_TRUE(r->contents[0].nocase);
  }
  // uricontent does not make the following contents uri contents.
  const auto next = with_options("uricontent:\"/a\"; content:\"b\";");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->contents[1].buffer, kPayloadBuffer);
}

TEST(RuleParser, BufferNamesUseTheStickyKeyword) {
  const Registry& r = applayer::rule_registry();
  EXPECT_EQ(r.buffer(kPayloadBuffer).name, "pkt_data");
  EXPECT_EQ(r.buffer(B("http.uri")).name, "http.uri");
  EXPECT_EQ(r.buffer(r.find_sticky("file_data")).name, "file.data");
  EXPECT_EQ(r.buffer(r.find_legacy("http_server_body")).name, "http.response_body");
  EXPECT_EQ(r.buffer(r.find_pcre_flag('U')).name, "http.uri");
  EXPECT_EQ(r.buffer(B("tls.sni")).name, "tls.sni");
  EXPECT_EQ(r.buffer(B("dns.query")).name, "dns.query");
}

// ---- pcre --------------------------------------------------------------------------------------

TEST(RuleParser, PcreKeepsPatternFlagsNegationAndRelative) {
  const auto rule = with_options(
      "pcre:\"/ab+c/ismx\"; content:\"d\"; pcre:!\"/e[0-9]{2}/R\"; pcre:\"/f/BO\"; "
      "pcre:\"/g/AEG\";");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->pcres.size(), 4u);
  EXPECT_EQ(rule->pcres[0].pattern, "ab+c");
  EXPECT_EQ(rule->pcres[0].pcre_flags, "ismx");
  EXPECT_FALSE(rule->pcres[0].negated);
  EXPECT_FALSE(rule->pcres[0].relative);
  EXPECT_EQ(rule->pcres[0].buffer, kPayloadBuffer);
  EXPECT_EQ(rule->pcres[1].pattern, "e[0-9]{2}");
  EXPECT_TRUE(rule->pcres[1].negated);
  EXPECT_TRUE(rule->pcres[1].relative);
  EXPECT_EQ(rule->pcres[1].pcre_flags, "");
  EXPECT_EQ(rule->pcres[2].pattern, "f");
  EXPECT_EQ(rule->pcres[2].pcre_flags, "");  // B (rawbytes) and O are accepted and dropped
  EXPECT_FALSE(rule->pcres[2].relative);
  EXPECT_EQ(rule->pcres[3].pattern, "g");

  // Matches keep rule order across contents and pcres.
  ASSERT_EQ(rule->matches.size(), 5u);
  EXPECT_EQ(rule->matches[0].kind, Match::Kind::kPcre);
  EXPECT_EQ(rule->matches[0].index, 0u);
  EXPECT_EQ(rule->matches[1].kind, Match::Kind::kContent);
  EXPECT_EQ(rule->matches[1].index, 0u);
  EXPECT_EQ(rule->matches[2].kind, Match::Kind::kPcre);
  EXPECT_EQ(rule->matches[2].index, 1u);
  EXPECT_EQ(rule->matches[4].kind, Match::Kind::kPcre);
  EXPECT_EQ(rule->matches[4].index, 3u);
}

TEST(RuleParser, PcreSlashesInsideThePatternSplitAtTheLastOne) {
  const auto rule = with_options("pcre:\"/a/b/i\";");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->pcres[0].pattern, "a/b");
  EXPECT_EQ(rule->pcres[0].pcre_flags, "i");
}

TEST(RuleParser, PcreBufferLettersSelectTheBuffer) {
  const std::pair<char, const char*> cases[] = {
      {'U', "http.uri"},          {'I', "http.uri.raw"},   {'H', "http.header"},
      {'D', "http.header.raw"},   {'M', "http.method"},    {'C', "http.cookie"},
      {'P', "http.request_body"}, {'S', "http.stat_code"}, {'V', "http.user_agent"},
      {'W', "http.host"},         {'Q', "file.data"},
  };
  for (const auto& [letter, buffer] : cases) {
    const auto rule = with_options(std::string("pcre:\"/x/i") + letter + "\";");
    ASSERT_TRUE(rule) << letter;
    EXPECT_EQ(rule->pcres[0].buffer, B(buffer)) << letter;
    EXPECT_EQ(rule->pcres[0].pcre_flags, "i") << letter;
  }
  // The letter wins over the sticky buffer; without one the sticky buffer applies.
  const auto rule = with_options("http.host; pcre:\"/h/\"; pcre:\"/u/U\";");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->pcres[0].buffer, B("http.host"));
  EXPECT_EQ(rule->pcres[1].buffer, B("http.uri"));
  // R finds the previous match in the pcre's own buffer.
  const auto relative = with_options("content:\"/a\"; http_uri; pcre:\"/b/UR\";");
  ASSERT_TRUE(relative);
  EXPECT_TRUE(relative->pcres[0].relative);
}

TEST(RuleParser, PcreKeepsBackslashEscapesOfThePattern) {
  // The pattern is the text between the slashes as written: PCRE itself reads \s, \d, \x41,
  // and also \; and \" (the characters themselves).
  const auto rule = with_options("pcre:\"/^GET\\s+\\d+\\x41\\.\\/a\\;b\\\"c/i\";");
  ASSERT_TRUE(rule);
  ASSERT_EQ(rule->pcres.size(), 1u);
  EXPECT_EQ(rule->pcres[0].pattern, "^GET\\s+\\d+\\x41\\.\\/a\\;b\\\"c");
  EXPECT_EQ(rule->pcres[0].pcre_flags, "i");
}

// ---- flow, flags, dsize ------------------------------------------------------------------------

TEST(RuleParser, FlowOptionsSetTheirFields) {
  struct Case {
    const char* value;
    FlowCondition expected;
  };
  const Case cases[] = {
      {"established", {.established = true}},
      {"not_established", {.not_established = true}},
      {"stateless", {.stateless = true}},
      {"to_server", {.to_server = true}},
      {"from_client", {.to_server = true}},
      {"to_client", {.to_client = true}},
      {"from_server", {.to_client = true}},
      {"only_stream", {.only_stream = true}},
      {"no_stream", {.no_stream = true}},
      {" established , to_client ,no_stream",
       {.established = true, .to_client = true, .no_stream = true}},
  };
  for (const Case& c : cases) {
    const auto rule = with_options("flow:" + std::string(c.value) + ";");
    ASSERT_TRUE(rule) << c.value;
    ASSERT_TRUE(rule->flow) << c.value;
    const FlowCondition& f = *rule->flow;
    EXPECT_EQ(f.established, c.expected.established) << c.value;
    EXPECT_EQ(f.not_established, c.expected.not_established) << c.value;
    EXPECT_EQ(f.stateless, c.expected.stateless) << c.value;
    EXPECT_EQ(f.to_server, c.expected.to_server) << c.value;
    EXPECT_EQ(f.to_client, c.expected.to_client) << c.value;
    EXPECT_EQ(f.only_stream, c.expected.only_stream) << c.value;
    EXPECT_EQ(f.no_stream, c.expected.no_stream) << c.value;
  }
}

TEST(RuleParser, FlagsParseModifierBitsAndIgnoredBits) {
  struct Case {
    const char* value;
    FlagsCondition::Mode mode;
    uint8_t flags;
    uint8_t ignored;
  };
  const Case cases[] = {
      {"S", FlagsCondition::Mode::kExact, 0x02, 0},
      {"SA", FlagsCondition::Mode::kExact, 0x12, 0},
      {"FSRPAUCE", FlagsCondition::Mode::kExact, 0xff, 0},
      {"12", FlagsCondition::Mode::kExact, 0xc0, 0},
      {"0", FlagsCondition::Mode::kExact, 0x00, 0},
      {"+SA", FlagsCondition::Mode::kAll, 0x12, 0},
      {"SA+", FlagsCondition::Mode::kAll, 0x12, 0},
      {"*SF", FlagsCondition::Mode::kAny, 0x03, 0},
      {"!R", FlagsCondition::Mode::kNone, 0x04, 0},
      {"S,12", FlagsCondition::Mode::kExact, 0x02, 0xc0},
      {" S , CE ", FlagsCondition::Mode::kExact, 0x02, 0xc0},
      {"+S,U", FlagsCondition::Mode::kAll, 0x02, 0x20},
  };
  for (const Case& c : cases) {
    const auto rule = with_options("flags:" + std::string(c.value) + ";");
    ASSERT_TRUE(rule) << c.value;
    ASSERT_TRUE(rule->flags) << c.value;
    EXPECT_EQ(rule->flags->mode, c.mode) << c.value;
    EXPECT_EQ(rule->flags->flags, c.flags) << c.value;
    EXPECT_EQ(rule->flags->ignored, c.ignored) << c.value;
  }
}

TEST(FlagsCondition, MatchesByModeAfterMaskingIgnoredBits) {
  constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kEce = 0x40,
                    kCwr = 0x80;
  FlagsCondition exact{FlagsCondition::Mode::kExact, kSyn, 0};
  EXPECT_TRUE(exact.matches(kSyn));
  EXPECT_FALSE(exact.matches(kSyn | kAck));
  EXPECT_FALSE(exact.matches(0));
  EXPECT_FALSE(exact.matches(kSyn | kCwr));

  FlagsCondition exact_ignoring{FlagsCondition::Mode::kExact, kSyn, kEce | kCwr};
  EXPECT_TRUE(exact_ignoring.matches(kSyn));
  EXPECT_TRUE(exact_ignoring.matches(kSyn | kCwr));
  EXPECT_TRUE(exact_ignoring.matches(kSyn | kEce | kCwr));
  EXPECT_FALSE(exact_ignoring.matches(kSyn | kAck | kCwr));
  EXPECT_FALSE(exact_ignoring.matches(kCwr));

  FlagsCondition all{FlagsCondition::Mode::kAll, kSyn | kAck, 0};
  EXPECT_TRUE(all.matches(kSyn | kAck));
  EXPECT_TRUE(all.matches(kSyn | kAck | kPsh));
  EXPECT_FALSE(all.matches(kSyn));
  EXPECT_FALSE(all.matches(kAck | kPsh));

  FlagsCondition any{FlagsCondition::Mode::kAny, kSyn | kFin, 0};
  EXPECT_TRUE(any.matches(kSyn));
  EXPECT_TRUE(any.matches(kFin));
  EXPECT_TRUE(any.matches(kFin | kSyn | kAck));
  EXPECT_FALSE(any.matches(kAck));
  EXPECT_FALSE(any.matches(0));
  EXPECT_TRUE((FlagsCondition{FlagsCondition::Mode::kAny, 0, 0}.matches(kAck)));

  FlagsCondition none{FlagsCondition::Mode::kNone, kRst, 0};
  EXPECT_TRUE(none.matches(kSyn));
  EXPECT_TRUE(none.matches(0));
  EXPECT_FALSE(none.matches(kRst));
  EXPECT_FALSE(none.matches(kRst | kAck));

  FlagsCondition no_flags{FlagsCondition::Mode::kExact, 0, 0};
  EXPECT_TRUE(no_flags.matches(0));
  EXPECT_FALSE(no_flags.matches(kAck));
}

TEST(RuleParser, FlagsFromARuleMatchPackets) {
  const auto rule = with_options("flags:S,12;");
  ASSERT_TRUE(rule && rule->flags);
  EXPECT_TRUE(rule->flags->matches(0x02));
  EXPECT_TRUE(rule->flags->matches(0x02 | 0xc0));
  EXPECT_FALSE(rule->flags->matches(0x12));
}

TEST(RuleParser, DsizeFormsParse) {
  struct Case {
    const char* value;
    SizeCondition::Op op;
    uint32_t a, b;
  };
  const Case cases[] = {
      {"300", SizeCondition::Op::kEqual, 300, 0},
      {"0", SizeCondition::Op::kEqual, 0, 0},
      {"<300", SizeCondition::Op::kLess, 300, 0},
      {"> 300", SizeCondition::Op::kGreater, 300, 0},
      {">65535", SizeCondition::Op::kGreater, 65535, 0},
      {"300<>400", SizeCondition::Op::kRange, 300, 400},
      {" 10 <> 20 ", SizeCondition::Op::kRange, 10, 20},
  };
  for (const Case& c : cases) {
    const auto rule = with_options("dsize:" + std::string(c.value) + ";");
    ASSERT_TRUE(rule) << c.value;
    ASSERT_TRUE(rule->dsize) << c.value;
    EXPECT_EQ(rule->dsize->op, c.op) << c.value;
    EXPECT_EQ(rule->dsize->a, c.a) << c.value;
    EXPECT_EQ(rule->dsize->b, c.b) << c.value;
  }
}

TEST(SizeCondition, MatchesAtTheEdges) {
  const SizeCondition equal{SizeCondition::Op::kEqual, 300, 0};
  EXPECT_FALSE(equal.matches(299));
  EXPECT_TRUE(equal.matches(300));
  EXPECT_FALSE(equal.matches(301));

  const SizeCondition less{SizeCondition::Op::kLess, 300, 0};
  EXPECT_TRUE(less.matches(0));
  EXPECT_TRUE(less.matches(299));
  EXPECT_FALSE(less.matches(300));
  EXPECT_FALSE(less.matches(301));

  const SizeCondition greater{SizeCondition::Op::kGreater, 300, 0};
  EXPECT_FALSE(greater.matches(299));
  EXPECT_FALSE(greater.matches(300));
  EXPECT_TRUE(greater.matches(301));
  EXPECT_TRUE(greater.matches(65535));

  // Suricata's N<>M excludes both ends.
  const SizeCondition range{SizeCondition::Op::kRange, 300, 400};
  EXPECT_FALSE(range.matches(299));
  EXPECT_FALSE(range.matches(300));
  EXPECT_TRUE(range.matches(301));
  EXPECT_TRUE(range.matches(350));
  EXPECT_TRUE(range.matches(399));
  EXPECT_FALSE(range.matches(400));
  EXPECT_FALSE(range.matches(401));

  const SizeCondition empty{SizeCondition::Op::kEqual, 0, 0};
  EXPECT_TRUE(empty.matches(0));
  EXPECT_FALSE(empty.matches(1));
}

// ---- every keyword at once ---------------------------------------------------------------------

TEST(RuleParser, AcceptsEveryKeywordAndBufferInOneRule) {
  const auto rule =
      one("alert http $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:\"all\"; "
          "flow:established,to_server; flags:+PA,12; dsize:>0; "
          "content:\"GET\"; http_method; nocase; rawbytes; "
          "uricontent:\"/x\"; "
          "http.header; content:\"Host|3a|\"; offset:0; depth:64; fast_pattern; "
          "content:\"a\"; distance:0; within:10; "
          "pcre:\"/b/R\"; "
          "http.user_agent; content:\"curl\"; startswith; "
          "pkt_data; content:\"z\"; endswith; "
          "reference:url,example.com; metadata:k v; classtype:web-application-attack; "
          "priority:2; gid:1; sid:99; rev:3;)");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->app_proto, AppProto::kHttp);
  EXPECT_EQ(rule->contents.size(), 6u);
  EXPECT_EQ(rule->pcres.size(), 1u);
  EXPECT_EQ(rule->matches.size(), 7u);
  EXPECT_EQ(rule->contents[0].buffer, B("http.method"));
  EXPECT_EQ(rule->contents[1].buffer, B("http.uri"));
  EXPECT_EQ(rule->contents[2].buffer, B("http.header"));
  EXPECT_TRUE(rule->contents[3].relative());
  EXPECT_EQ(rule->pcres[0].buffer, B("http.header"));
  EXPECT_TRUE(rule->pcres[0].relative);
  EXPECT_EQ(rule->contents[4].buffer, B("http.user_agent"));
  EXPECT_EQ(rule->contents[5].buffer, kPayloadBuffer);
  EXPECT_EQ(rule->category, "Web Application Attack");
  EXPECT_EQ(rule->priority, 2u);
  EXPECT_EQ(rule->sid, 99u);
  EXPECT_EQ(rule->rev, 3u);
}

// ---- errors ------------------------------------------------------------------------------------

// A bad rule on line 2 between two good ones. '`' in `rule` marks the expected column (it is
// removed before parsing). A `reason` ending in '*' is a prefix.
struct ErrorCase {
  const char* name;
  const char* rule;
  const char* message_part;
  const char* reason;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name << ": " << c.rule; }

constexpr ErrorCase kErrorCases[] = {
    // Header
    {"UnknownAction", "`alarm tcp any any -> any any (msg:\"x\"; sid:100;)",
     "unknown action 'alarm' (expected alert, pass, drop, reject, rejectsrc, rejectdst, "
     "rejectboth)",
     "unknown action"},
    {"UnsupportedProtocol", "alert `http2 any any -> any any (msg:\"x\"; sid:100;)",
     "unsupported protocol 'http2'", "unsupported protocol 'http2'"},
    {"BadDirection", "alert tcp any any `=> any any (msg:\"x\"; sid:100;)",
     "expected direction '->' or '<>', got '=>'", "bad direction"},
    {"BadSourceAddress", "alert tcp `198.51.100.300 any -> any any (msg:\"x\"; sid:100;)",
     "source/destination address: '198.51.100.300' is not an address", "bad address*"},
    {"BadAddressInList", "alert tcp [198.51.100.0/24,`bogus] any -> any any (msg:\"x\"; sid:100;)",
     "source/destination address: 'bogus' is not an address", "bad address*"},
    {"UnknownAddressVariable", "alert tcp any any -> `$NOPE any (msg:\"x\"; sid:100;)",
     "source/destination address: unknown address variable '$NOPE'", "bad address*"},
    {"AddressListWithoutComma",
     "alert tcp [198.51.100.1 `203.0.113.1] any -> any any (msg:\"x\"; sid:100;)",
     "source/destination address: expected ',' or ']' in list", "bad address*"},
    // An unclosed '[' swallows the rest of the line into one header token.
    {"UnclosedAddressList",
     "alert tcp [198.51.100.1,203.0.113.1 any -> any any (msg:\"x\"; sid:100;`)",
     "incomplete rule header", "incomplete header"},
    {"BadSourcePort", "alert tcp any `70000 -> any any (msg:\"x\"; sid:100;)",
     "port: '70000' is not a port", "bad port*"},
    {"ReversedPortRange", "alert tcp any any -> any `90:80 (msg:\"x\"; sid:100;)",
     "port: '90:80' is not a port", "bad port*"},
    {"BadPortInList", "alert tcp any any -> any [80,`70000] (msg:\"x\"; sid:100;)",
     "port: '70000' is not a port", "bad port*"},
    {"UnknownPortVariable", "alert tcp any `$NOPE -> any any (msg:\"x\"; sid:100;)",
     "port: unknown port variable '$NOPE'", "bad port*"},
    {"IncompleteHeader", "alert tcp any any -> any `(msg:\"x\"; sid:100;)",
     "incomplete rule header: expected 'action protocol source port direction destination port "
     "(options)'",
     "incomplete header"},
    {"IncompleteHeaderWithoutOptions", "alert tcp any any -> an`y", "incomplete rule header",
     "incomplete header"},
    {"ExtraHeaderToken", "alert tcp any any -> any any `extra (msg:\"x\"; sid:100;)",
     "unexpected 'extra' after the header", "extra header token"},
    {"MissingOpenParen", "alert tcp any any -> any an`y", "expected '(' to start the rule options",
     "missing options"},
    // Option syntax
    {"MissingSemicolonBetweenOptions",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; nocase `sid:100;)",
     "expected ';' after option 'nocase'", "missing ';'"},
    {"MissingSemicolonAtTheEnd", "alert tcp any any -> any any (msg:\"x\"; sid:100`)",
     "expected ';' after option 'sid'", "missing ';'"},
    {"UnterminatedOptions", "alert tcp any any -> any any (msg:\"x\"; sid:100`;",
     "expected ')' at the end of the rule", "unterminated options"},
    {"TextAfterCloseParen", "alert tcp any any -> any any (msg:\"x\"; sid:100;)`junk",
     "unexpected text after the closing ')'", "text after ')'"},
    {"NotAKeyword", "alert tcp any any -> any any (msg:\"x\"; `\"loose\"; sid:100;)",
     "expected an option keyword, got '\"'", "bad option syntax"},
    {"UnsupportedKeyword",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; `lua:oversize_length 10; "
     "sid:100;)",
     "unsupported keyword 'lua'", "unsupported keyword 'lua'"},
    {"KeywordNeedsValue", "alert tcp any any -> any any (msg:\"x\"; `content; sid:100;)",
     "'content' needs a value ('content:...;')", "'content' without a value"},
    {"SidNeedsValue", "alert tcp any any -> any any (msg:\"x\"; `sid;)",
     "'sid' needs a value ('sid:...;')", "'sid' without a value"},
    // Modifiers without a content
    {"NocaseWithoutContent", "alert tcp any any -> any any (msg:\"x\"; `nocase; sid:100;)",
     "'nocase' needs a preceding content", "'nocase' without a preceding content"},
    {"OffsetWithoutContent", "alert tcp any any -> any any (msg:\"x\"; offset:`3; sid:100;)",
     "'offset' needs a preceding content", "'offset' without a preceding content"},
    {"LegacyBufferWithoutContent", "alert tcp any any -> any any (msg:\"x\"; `http_uri; sid:100;)",
     "'http_uri' needs a preceding content", "'http_uri' without a preceding content"},
    {"ModifierAfterPcre",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; pcre:\"/b/\"; `fast_pattern; "
     "sid:100;)",
     "'fast_pattern' needs a preceding content", "'fast_pattern' without a preceding content"},
    // Numbers
    {"NonNumericSid", "alert tcp any any -> any any (msg:\"x\"; sid:`abc;)",
     "'sid' expects a number, got 'abc'", "'sid' with a non-numeric value"},
    {"NonNumericOffset",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; offset: `1x; sid:100;)",
     "'offset' expects a number, got '1x'", "'offset' with a non-numeric value"},
    {"ZeroSid", "alert tcp any any -> any any (msg:\"x\"; sid:`0;)",
     "'sid' value 0 is out of range 1..4294967295", "'sid' out of range"},
    {"HugeSid", "alert tcp any any -> any any (msg:\"x\"; sid:`4294967296;)",
     "'sid' value 4294967296 is out of range 1..4294967295", "'sid' out of range"},
    {"PriorityTooHigh", "alert tcp any any -> any any (msg:\"x\"; priority:`256; sid:100;)",
     "'priority' value 256 is out of range 1..255", "'priority' out of range"},
    {"NegativeOffset",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; offset:`-1; sid:100;)",
     "'offset' value -1 is out of range 0..1048560", "'offset' out of range"},
    {"OffsetTooLarge",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; offset:`1048561; sid:100;)",
     "'offset' value 1048561 is out of range 0..1048560", "'offset' out of range"},
    {"ZeroDepth", "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; depth:`0; sid:100;)",
     "'depth' value 0 is out of range 1..1048560", "'depth' out of range"},
    {"DistanceTooNegative",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; content:\"b\"; distance:`-1048561; "
     "sid:100;)",
     "'distance' value -1048561 is out of range -1048560..1048560", "'distance' out of range"},
    // Lengths
    {"DepthShorterThanContent",
     "alert tcp any any -> any any (msg:\"x\"; content:\"abcd\"; depth:`3; sid:100;)",
     "'depth' 3 is shorter than the content (4 bytes)", "'depth' shorter than its content"},
    {"WithinShorterThanContent",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; content:\"|41 42 43|\"; within:`2; "
     "sid:100;)",
     "'within' 2 is shorter than the content (3 bytes)", "'within' shorter than its content"},
    // Content text
    {"InvalidEscape", "alert tcp any any -> any any (msg:\"x\"; content:\"ab`\\x\"; sid:100;)",
     "'content': invalid escape (only \\\" \\; \\\\ and \\: are allowed)",
     "'content' with an invalid escape"},
    {"EscapedClosingQuote", "alert tcp any any -> any any (msg:\"x\"; content:\"ab`\\\"; sid:100;)",
     "'content': invalid escape", "'content' with an invalid escape"},
    {"UnterminatedHex", "alert tcp any any -> any any (msg:\"x\"; content:\"a`|41 42\"; sid:100;)",
     "'content': unterminated |hex| block", "'content' with an unterminated hex block"},
    {"BadHexDigit", "alert tcp any any -> any any (msg:\"x\"; content:\"|41 4`G|\"; sid:100;)",
     "'content': 'G' is not a hex digit", "'content' with a bad hex digit"},
    {"OddHexDigits", "alert tcp any any -> any any (msg:\"x\"; content:\"a`|41 4|\"; sid:100;)",
     "'content': odd number of hex digits", "'content' with a bad hex digit"},
    {"EmptyContent", "alert tcp any any -> any any (msg:\"x\"; content:`\"\"; sid:100;)",
     "'content' is empty", "empty content"},
    {"UnquotedContent", "alert tcp any any -> any any (msg:\"x\"; content:`abc; sid:100;)",
     "'content' expects a quoted string, like content:\"abc|0d 0a|\"", "'content' without quotes"},
    {"UnquotedMsg", "alert tcp any any -> any any (msg:`hello; sid:100;)",
     "'msg' expects a quoted string", "'msg' without quotes"},
    {"NegatedFastPattern",
     "alert tcp any any -> any any (msg:\"x\"; content:!\"a\"; `fast_pattern; sid:100;)",
     "'fast_pattern' cannot be a negated content", "negated fast_pattern"},
    // pcre
    {"PcreWithoutDelimiters", "alert tcp any any -> any any (msg:\"x\"; pcre:`\"abc\"; sid:100;)",
     "'pcre' expects \"/pattern/flags\"", "'pcre' without /delimiters/"},
    {"PcreWithOneSlash", "alert tcp any any -> any any (msg:\"x\"; pcre:`\"/abc\"; sid:100;)",
     "'pcre' expects \"/pattern/flags\"", "'pcre' without /delimiters/"},
    {"PcreWithoutQuotes", "alert tcp any any -> any any (msg:\"x\"; pcre:`/abc/; sid:100;)",
     "'pcre' expects a quoted string", "'pcre' without quotes"},
    {"PcreUnknownModifier", "alert tcp any any -> any any (msg:\"x\"; pcre:`\"/a/iX\"; sid:100;)",
     "'pcre': unknown modifier 'X'", "'pcre' with an unknown modifier"},
    {"RelativePcreFirst", "alert tcp any any -> any any (msg:\"x\"; pcre:`\"/a/R\"; sid:100;)",
     "'pcre' with R (relative) needs a preceding content or pcre in the same buffer",
     "relative pcre without a preceding match"},
    {"RelativePcreInAnotherBuffer",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; pcre:`\"/b/UR\"; sid:100;)",
     "'pcre' with R (relative) needs a preceding content or pcre in the same buffer",
     "relative pcre without a preceding match"},
    // Classification, references, identity
    {"UnknownClasstype",
     "alert tcp any any -> any any (msg:\"x\"; classtype:`no-such-class; sid:100;)",
     "unknown classtype 'no-such-class' (not in the classification file)", "unknown classtype"},
    {"ReferenceWithoutType",
     "alert tcp any any -> any any (msg:\"x\"; reference:`example.com; sid:100;)",
     "'reference' expects TYPE,VALUE", "'reference' without a type"},
    {"MissingSid", "alert tcp any any -> any any (msg:\"x\"; rev:2;`)", "sid is required",
     "missing sid"},
    {"StartswithWithOffset",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; startswith; offset:2; sid:100;`)",
     "'startswith' cannot be combined with offset, depth, distance or within",
     "'startswith' with a position modifier"},
    {"StartswithWithDistance",
     "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; content:\"b\"; distance:1; "
     "startswith; sid:100;`)",
     "'startswith' cannot be combined with offset, depth, distance or within",
     "'startswith' with a position modifier"},
    // flow, flags, dsize
    {"UnknownFlowOption",
     "alert tcp any any -> any any (msg:\"x\"; flow:`established,sideways; sid:100;)",
     "'flow': unknown option 'sideways'", "'flow:sideways'"},
    {"FlowBothDirections",
     "alert tcp any any -> any any (msg:\"x\"; flow:`to_server,from_server; sid:100;)",
     "'flow': to_server and to_client exclude each other", "'flow' with both directions"},
    {"FlowBothStates",
     "alert tcp any any -> any any (msg:\"x\"; flow:`established,not_established; sid:100;)",
     "'flow': established and not_established exclude each other", "'flow' with both states"},
    {"FlowBothStreamOptions",
     "alert tcp any any -> any any (msg:\"x\"; flow:`only_stream,no_stream; sid:100;)",
     "'flow': only_stream and no_stream exclude each other", "'flow' with both stream options"},
    {"UnknownFlag", "alert tcp any any -> any any (msg:\"x\"; flags:`SX; sid:100;)",
     "'flags': unknown flag 'X' (expected F S R P A U C E 1 2 0)", "'flags' with an unknown flag"},
    {"UnknownIgnoredFlag", "alert tcp any any -> any any (msg:\"x\"; flags:`S,Z; sid:100;)",
     "'flags': unknown flag 'Z'", "'flags' with an unknown flag"},
    {"FlagsOnlyModifier", "alert tcp any any -> any any (msg:\"x\"; flags:`+; sid:100;)",
     "'flags' needs at least one flag", "'flags' without flags"},
    {"DsizeReversedRange", "alert tcp any any -> any any (msg:\"x\"; dsize:`400<>300; sid:100;)",
     "'dsize' expects N, !N, <N, <=N, >N, >=N or N<>M (0..65535), got '400<>300'",
     "'dsize' with a bad value"},
    {"DsizeTooLarge", "alert tcp any any -> any any (msg:\"x\"; dsize:`70000; sid:100;)",
     "got '70000'", "'dsize' with a bad value"},
    {"DsizeNegative", "alert tcp any any -> any any (msg:\"x\"; dsize:`<-1; sid:100;)", "got '<-1'",
     "'dsize' with a bad value"},
    {"DsizeNotANumber", "alert tcp any any -> any any (msg:\"x\"; dsize:`big; sid:100;)",
     "got 'big'", "'dsize' with a bad value"},
};

class RuleParserErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(RuleParserErrors, ReportsLineColumnAndReasonAndKeepsTheOtherRules) {
  const ErrorCase& c = GetParam();
  std::string bad = c.rule;
  const size_t marker = bad.find('`');
  ASSERT_NE(marker, std::string::npos) << "case without a column marker";
  bad.erase(marker, 1);
  const std::string text = "alert tcp any any -> any any (msg:\"before\"; sid:1;)\n" + bad +
                           "\nalert udp any any -> any any (msg:\"after\"; sid:2;)\n";
  const RuleSet set = parse(text);

  EXPECT_EQ(set.failed, 1u) << describe(set);
  EXPECT_EQ(set.warnings, 0u) << describe(set);
  ASSERT_EQ(set.diagnostics.size(), 1u) << describe(set);
  const Diagnostic& d = set.diagnostics[0];
  EXPECT_EQ(d.severity, Diagnostic::Severity::kError);
  EXPECT_EQ(d.file, "t.rules");
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.column, static_cast<int>(marker) + 1) << d.to_string();
  EXPECT_NE(d.message.find(c.message_part), std::string::npos) << d.to_string();
  const std::string_view reason = c.reason;
  if (reason.ends_with('*')) {
    EXPECT_TRUE(d.reason.starts_with(reason.substr(0, reason.size() - 1))) << d.reason;
  } else {
    EXPECT_EQ(d.reason, reason);
  }

  ASSERT_EQ(set.rules.size(), 2u);
  EXPECT_EQ(set.rules[0].sid, 1u);
  EXPECT_EQ(set.rules[0].line, 1);
  EXPECT_EQ(set.rules[1].sid, 2u);
  EXPECT_EQ(set.rules[1].line, 3);
}

INSTANTIATE_TEST_SUITE_P(EveryMessage, RuleParserErrors, ::testing::ValuesIn(kErrorCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& case_info) {
                           return std::string(case_info.param.name);
                         });

TEST(RuleParser, DuplicateGidSidNamesTheFirstDefinition) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"first\"; sid:5;)\n"
      "\n"
      "alert udp any any -> any any (msg:\"second\"; sid:5; rev:2;)\n"
      "alert udp any any -> any any (msg:\"other gid\"; gid:2; sid:5;)\n");
  EXPECT_EQ(set.failed, 1u);
  ASSERT_EQ(set.diagnostics.size(), 1u) << describe(set);
  const Diagnostic& d = set.diagnostics[0];
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 45);  // at "sid"
  EXPECT_EQ(d.message, "duplicate rule gid:1 sid:5 (first defined at t.rules:1)");
  EXPECT_EQ(d.reason, "duplicate gid:sid");
  ASSERT_EQ(set.rules.size(), 2u);
  EXPECT_EQ(set.rules[0].msg, "first");
  EXPECT_EQ(set.rules[1].gid, 2u);
  EXPECT_EQ(set.rules[1].sid, 5u);
}

TEST(RuleParser, DuplicateAcrossFilesNamesTheFirstFileAndLine) {
  RuleParser parser(default_variables(), &test_classes(), applayer::rule_registry());
  parser.parse_text("# a\nalert tcp any any -> any any (msg:\"a\"; gid:3; sid:9;)\n", "a.rules");
  parser.parse_text("alert tcp any any -> any any (msg:\"b\"; gid:3; sid:9;)\n", "b.rules");
  const RuleSet set = parser.take();
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].file, "a.rules");
  ASSERT_EQ(set.diagnostics.size(), 1u);
  EXPECT_EQ(set.diagnostics[0].file, "b.rules");
  EXPECT_EQ(set.diagnostics[0].line, 1);
  EXPECT_EQ(set.diagnostics[0].message, "duplicate rule gid:3 sid:9 (first defined at a.rules:2)");
}

TEST(RuleParser, RefusedRuleDoesNotClaimItsSid) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"bad\"; content:\"\"; sid:5;)\n"
      "alert tcp any any -> any any (msg:\"good\"; sid:5;)\n");
  EXPECT_EQ(set.failed, 1u);
  ASSERT_EQ(set.rules.size(), 1u) << describe(set);
  EXPECT_EQ(set.rules[0].msg, "good");
  EXPECT_EQ(set.rules[0].line, 2);
}

TEST(RuleParser, DuplicateColumnPointsAtTheSidKeywordEvenWhenMsgContainsSid) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"a\"; sid:5;)\n"
      "alert tcp any any -> any any (msg:\"inside\"; sid:5;)\n");
  ASSERT_EQ(set.diagnostics.size(), 1u);
  EXPECT_EQ(set.diagnostics[0].column, 45);
}

TEST(RuleParser, SidAboveInt32MaxIsKeptExactly) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"a\"; sid:3000000000; gid:4000000000; rev:3500000000;)\n"
      "alert tcp any any -> any any (msg:\"b\"; sid:3000000001;)\n");
  EXPECT_EQ(set.failed, 0u) << describe(set);
  ASSERT_EQ(set.rules.size(), 2u);
  EXPECT_EQ(set.rules[0].sid, 3000000000u);
  EXPECT_EQ(set.rules[0].gid, 4000000000u);
  EXPECT_EQ(set.rules[0].rev, 3500000000u);
  EXPECT_EQ(set.rules[1].sid, 3000000001u);
}

TEST(RuleParser, NegatedContentErrorColumnPointsAtTheBadCharacter) {
  const RuleSet escape =
      parse("alert tcp any any -> any any (msg:\"x\"; content:!\"a\\x\"; sid:1;)\n");
  ASSERT_EQ(escape.diagnostics.size(), 1u);
  EXPECT_EQ(escape.diagnostics[0].column, 51);  // the backslash
  const RuleSet hex =
      parse("alert tcp any any -> any any (msg:\"x\"; content:! \"|4G|\"; sid:1;)\n");
  ASSERT_EQ(hex.diagnostics.size(), 1u);
  EXPECT_EQ(hex.diagnostics[0].column, 53);  // the G
}

TEST(RuleParser, KeywordThatTakesNoValueRefusesOne) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; nocase:1; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; startswith:yes; sid:2;)\n");
  EXPECT_EQ(set.failed, 2u) << describe(set);
  EXPECT_TRUE(set.rules.empty());
  ASSERT_GE(set.diagnostics.size(), 1u);
  EXPECT_NE(set.diagnostics[0].message.find("nocase"), std::string::npos);
}

TEST(RuleParser, TextAfterCloseParenColumnPointsAtTheText) {
  const RuleSet set = parse("alert tcp any any -> any any (msg:\"x\"; sid:1;)   junk\n");
  ASSERT_EQ(set.diagnostics.size(), 1u);
  EXPECT_EQ(set.diagnostics[0].column, 50);  // the 'j'
}

// ---- layout: continuations, comments, CRLF -----------------------------------------------------

TEST(RuleParser, BackslashContinuesARuleOnTheNextLine) {
  const RuleSet set = parse(
      "# comment\n"
      "alert tcp any any -> any any ( \\\n"
      "    msg:\"multi\"; \\\n"
      "    content:\"abc\";   \\   \n"
      "    sid:1;)\n"
      "alert tcp any any -> any any (msg:\"next\"; sid:2;)\n");
  ASSERT_EQ(set.rules.size(), 2u) << describe(set);
  EXPECT_TRUE(set.diagnostics.empty()) << describe(set);
  const Rule& r = set.rules[0];
  EXPECT_EQ(r.line, 2);
  EXPECT_EQ(r.msg, "multi");
  ASSERT_EQ(r.contents.size(), 1u);
  EXPECT_EQ(r.contents[0].bytes, "abc");
  EXPECT_EQ(r.text,
            "alert tcp any any -> any any (     msg:\"multi\";     content:\"abc\";       sid:1;)");
  EXPECT_EQ(set.rules[1].line, 6);
}

TEST(RuleParser, ErrorOnAContinuationLineReportsThatLineAndItsColumn) {
  const std::string second = "  content:\"a\"; lua:oversize_length 10; sid:5;)";
  const RuleSet set = parse("alert tcp any any -> any any (msg:\"x\"; \\\n" + second +
                            "\n"
                            "alert tcp any any -> any any (msg:\"y\"; \\\n"
                            "content:\"b\"; \\\n"
                            "  content:\"c\"; depth:x; sid:6;)\n"
                            "alert tcp any any -> any any (msg:\"z\"; sid:7;)\n");
  EXPECT_EQ(set.failed, 2u);
  ASSERT_EQ(set.diagnostics.size(), 2u) << describe(set);
  EXPECT_EQ(set.diagnostics[0].line, 2);
  EXPECT_EQ(set.diagnostics[0].column, static_cast<int>(second.find("lua")) + 1);
  EXPECT_EQ(set.diagnostics[0].reason, "unsupported keyword 'lua'");
  EXPECT_EQ(set.diagnostics[1].line, 5);
  EXPECT_EQ(set.diagnostics[1].column, 22);  // the value of depth
  EXPECT_EQ(set.diagnostics[1].reason, "'depth' with a non-numeric value");
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].sid, 7u);
  EXPECT_EQ(set.rules[0].line, 6);
}

TEST(RuleParser, CommentsBlankLinesAndDisabledRulesAreSkipped) {
  const RuleSet set = parse(
      "# a comment\n"
      "\n"
      "   \t \n"
      "#alert tcp any any -> any any (msg:\"disabled\"; sid:1;)\n"
      "  # alert tcp any any -> any any (msg:\"indented disabled\"; byte_test:1; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"live\"; sid:3;)\n"
      "# trailing comment");
  EXPECT_TRUE(set.diagnostics.empty()) << describe(set);
  EXPECT_EQ(set.failed, 0u);
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].sid, 3u);
  EXPECT_EQ(set.rules[0].line, 6);
}

TEST(RuleParser, CrlfLineEndingsAreAccepted) {
  const RuleSet set = parse(
      "# windows\r\n"
      "alert tcp any any -> any any (msg:\"one\"; content:\"a\"; sid:1;)\r\n"
      "\r\n"
      "alert tcp any any -> any any (msg:\"two\"; \\\r\n"
      "  sid:2;)\r\n"
      "alert tcp any any -> any any (msg:\"bad\"; lua:1; sid:3;)\r\n");
  ASSERT_EQ(set.rules.size(), 2u) << describe(set);
  EXPECT_EQ(set.rules[0].text, "alert tcp any any -> any any (msg:\"one\"; content:\"a\"; sid:1;)");
  EXPECT_EQ(set.rules[0].contents[0].bytes, "a");
  EXPECT_EQ(set.rules[1].line, 4);
  EXPECT_EQ(set.rules[1].text.find('\r'), std::string::npos);
  ASSERT_EQ(set.diagnostics.size(), 1u);
  EXPECT_EQ(set.diagnostics[0].line, 6);
  EXPECT_EQ(set.diagnostics[0].column, 42);
  EXPECT_EQ(set.diagnostics[0].reason, "unsupported keyword 'lua'");
}

// ---- warnings and reports ----------------------------------------------------------------------

TEST(RuleParser, IgnoredKeywordsAndMissingMsgWarnButTheRuleLoads) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"t\"; target:dest_ip; tag:session,10,packets; sid:2;)\n"
      "alert tcp any any -> any any (content:\"a\"; sid:3;)\n");
  EXPECT_EQ(set.failed, 0u);
  EXPECT_EQ(set.warnings, 2u);
  ASSERT_EQ(set.rules.size(), 2u);
  ASSERT_EQ(set.diagnostics.size(), 2u) << describe(set);
  for (const Diagnostic& d : set.diagnostics) {
    EXPECT_EQ(d.severity, Diagnostic::Severity::kWarning) << d.to_string();
  }
  EXPECT_EQ(set.rules[0].target, Target::kDestIp);
  EXPECT_EQ(set.diagnostics[0].line, 1);
  EXPECT_EQ(set.diagnostics[0].column, 56);
  EXPECT_EQ(set.diagnostics[0].message, "'tag' is ignored (it does not change what matches)");
  EXPECT_EQ(set.diagnostics[0].reason, set.diagnostics[0].message);
  EXPECT_EQ(set.diagnostics[1].line, 2);
  EXPECT_EQ(set.diagnostics[1].column, 50);  // at ')'
  EXPECT_EQ(set.diagnostics[1].message, "rule has no msg");
  EXPECT_TRUE(set.rules[1].msg.empty());
  EXPECT_TRUE(set.failures_by_reason().empty());
}

TEST(RuleParser, TargetAndReferences) {
  const auto r = with_options(
      "target:src_ip; reference:URL,example.com/a; reference:cve,2021-44228; content:\"x\";");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target, Target::kSrcIp);
  ASSERT_EQ(r->references.size(), 2u);
  EXPECT_EQ(r->references[0].type, "url");  // systems are case-insensitive
  EXPECT_EQ(r->references[0].value, "example.com/a");
  EXPECT_EQ(r->references[1].type, "cve");
  const RuleSet bad = parse("alert tcp any any -> any any (msg:\"m\"; target:both; sid:1;)");
  ASSERT_NE(first_error(bad), nullptr);
  EXPECT_NE(first_error(bad)->message.find("'target' expects src_ip or dest_ip"),
            std::string::npos);
}

TEST(Diagnostic, FormatsAsFileLineColumnSeverityMessage) {
  const RuleSet set = parse(
      "# one\n"
      "\n"
      "alert ip any 70000 -> any any (msg:\"x\"; sid:1;)\n"
      "alert ip any any -> any any (sid:2;)\n");
  ASSERT_EQ(set.diagnostics.size(), 2u);
  EXPECT_EQ(set.diagnostics[0].to_string(),
            "t.rules:3:14: error: port: '70000' is not a port, port range (a:b, a:, :b), "
            "variable or any");
  EXPECT_EQ(set.diagnostics[1].to_string(), "t.rules:4:36: warning: rule has no msg");

  Diagnostic d;
  d.file = "x.rules";
  d.line = 12;
  d.column = 7;
  d.message = "something";
  EXPECT_EQ(d.to_string(), "x.rules:12:7: error: something");
  d.severity = Diagnostic::Severity::kWarning;
  EXPECT_EQ(d.to_string(), "x.rules:12:7: warning: something");
}

TEST(RuleSet, FailuresByReasonGroupsErrorsMostFrequentFirst) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"a\"; lua:oversize_length 10; sid:1;)\n"
      "alarm tcp any any -> any any (msg:\"b\"; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"c\"; lua:oversize_length 20; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"d\"; rev:1;)\n"
      "alert tcp any any -> any any (msg:\"e\"; content:\"\"; sid:5;)\n"
      "alarm tcp any any -> any any (msg:\"f\"; sid:6;)\n"
      "alert tcp any any -> any any (msg:\"g\"; lua:oversize_length 30; sid:7;)\n"
      "alert tcp any any -> any any (tag:session,10,packets; sid:8;)\n"
      "alert tcp any any -> any any (msg:\"ok\"; sid:9;)\n");
  EXPECT_EQ(set.failed, 7u);
  EXPECT_EQ(set.warnings, 2u);
  EXPECT_EQ(set.rules.size(), 2u);
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"unsupported keyword 'lua'", 3},
      {"unknown action", 2},
      {"empty content", 1},  // ties keep name order
      {"missing sid", 1},
  };
  EXPECT_EQ(set.failures_by_reason(), expected);
}

// ---- files and scale ---------------------------------------------------------------------------

TEST(RuleParser, ParseFileReadsAFileAndReportsAnUnreadableOne) {
  const std::string path = ::testing::TempDir() + "/spanguard_parser_test.rules";
  {
    std::ofstream out(path);
    out << "alert tcp any any -> any any (msg:\"from file\"; sid:1;)\n"
           "alert tcp any any -> any any (msg:\"bad\"; sid:x;)\n";
  }
  RuleParser parser(default_variables(), &test_classes(), applayer::rule_registry());
  parser.parse_file(path);
  const std::string missing = ::testing::TempDir() + "/no-such-dir/missing.rules";
  parser.parse_file(missing);
  const RuleSet set = parser.take();
  std::remove(path.c_str());

  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].file, path);
  EXPECT_EQ(set.rules[0].msg, "from file");
  EXPECT_EQ(set.failed, 2u);
  ASSERT_EQ(set.diagnostics.size(), 2u);
  EXPECT_EQ(set.diagnostics[0].file, path);
  EXPECT_EQ(set.diagnostics[0].line, 2);
  EXPECT_EQ(set.diagnostics[1].file, missing);
  EXPECT_EQ(set.diagnostics[1].message, "cannot read rule file");
  EXPECT_EQ(set.diagnostics[1].reason, "unreadable file");
}

TEST(RuleParser, WithoutClassificationsEveryClasstypeIsUnknown) {
  RuleParser parser(default_variables(), nullptr, applayer::rule_registry());
  parser.parse_text(
      "alert tcp any any -> any any (msg:\"x\"; classtype:trojan-activity; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"y\"; sid:2;)\n",
      "t.rules");
  const RuleSet set = parser.take();
  EXPECT_EQ(set.failed, 1u);
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].sid, 2u);
  const Diagnostic* error = first_error(set);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->reason, "unknown classtype");
}

TEST(RuleParser, LoadsTenThousandGeneratedRules) {
  constexpr int kCount = 10000;
  const char* const actions[] = {"alert", "pass", "drop", "reject", "rejectsrc"};
  const char* const protocols[] = {"tcp", "udp", "http", "tls", "dns", "ip", "tcp-pkt"};
  std::string text;
  text.reserve(kCount * 160);
  for (int i = 1; i <= kCount; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02x", i & 0xff);
    text += actions[i % 5];
    text += ' ';
    text += protocols[i % 7];
    text += i % 2 ? " $HOME_NET any -> $EXTERNAL_NET " : " any [1024:,!8080] <> 198.51.100.0/24 ";
    text += i % 3 == 0 ? "[80,443]" : std::to_string(1 + i % 65535);
    text += " (msg:\"generated " + std::to_string(i) + "\"; content:\"pattern-" +
            std::to_string(i) + "\"; ";
    if (i % 2 == 0) text += "nocase; ";
    if (i % 5 == 0) text += "content:\"|" + std::string(hex) + " 0d 0a|\"; distance:0; within:40; ";
    if (i % 7 == 0) text += "pcre:\"/x[0-9]+y/iR\"; ";
    if (i % 11 == 0) text += "classtype:trojan-activity; ";
    if (i % 13 == 0) text += "flow:established,to_server; dsize:>10; ";
    text += "sid:" + std::to_string(i) + "; rev:" + std::to_string(i % 9 + 1) + ";)\n";
  }
  const RuleSet set = parse(text);
  EXPECT_EQ(set.failed, 0u) << describe(set).substr(0, 2000);
  EXPECT_EQ(set.warnings, 0u);
  EXPECT_TRUE(set.diagnostics.empty());
  ASSERT_EQ(set.rules.size(), static_cast<size_t>(kCount));
  for (int i = 1; i <= kCount; ++i) {
    const Rule& r = set.rules[i - 1];
    ASSERT_EQ(r.sid, static_cast<uint32_t>(i));
    ASSERT_EQ(r.line, i);
    ASSERT_EQ(r.contents.front().bytes, "pattern-" + std::to_string(i));
  }
  const Rule& r70 = set.rules[69];  // i = 70: %2, %5, %7 all hold
  ASSERT_EQ(r70.contents.size(), 2u);
  EXPECT_EQ(r70.contents[1].bytes, std::string("\x46\x0d\x0a", 3));
  EXPECT_TRUE(r70.contents[1].relative());
  ASSERT_EQ(r70.pcres.size(), 1u);
  EXPECT_TRUE(r70.pcres[0].relative);
  EXPECT_TRUE(r70.contents[0].nocase);
  EXPECT_EQ(set.rules[142].priority, 1u);  // i = 143 = 11 * 13
  EXPECT_TRUE(set.rules[142].flow.has_value());
}

}  // namespace
}  // namespace spanguard::rules

// ---- requires ----------------------------------------------------------------------------------

namespace spanguard::rules {
namespace {

// `requires` is judged before everything else: a rule for another version or engine is skipped
// (counted, not an error), whatever keywords or protocols it uses; one that holds loads as usual.
TEST(Requires, VersionFeatureAndKeywordDecideWhetherTheRuleLoads) {
  const auto rule = [](const std::string& requires_value, const std::string& rest = "") {
    return "alert tcp any any -> any any (msg:\"r\"; requires: " + requires_value + "; " + rest +
           "content:\"x\"; sid:1;)";
  };
  struct Case {
    std::string text;
    bool loads;
  };
  const Case cases[] = {
      {rule("version >= 7.0.3"), true},
      {rule("version >= 8"), true},
      {rule("version >= 7.0.3 < 8"), false},
      {rule("version >= 7.0.10 < 8 | >= 8.0.0 < 9"), true},
      {rule("version < 7 | >= 9"), false},
      {rule("version >= 9.0.3"), false},
      {rule("keyword byte_math"), true},
      {rule("keyword http.uri, keyword to_sha256"), true},
      {rule("keyword lua"), false},
      {rule("feature geoip"), false},
      {rule("feature output::file-store, version >= 7"), false},
      {rule("frobnicate 3"), false},  // unknown requirements do not hold (Suricata)
      // What the rule needs beyond its requires is not even looked at when it is skipped.
      {"alert smb any any -> any any (msg:\"r\"; requires: version >= 9; smb.share; sid:1;)",
       false},
  };
  for (const Case& c : cases) {
    const RuleSet set = parse(c.text);
    EXPECT_EQ(set.rules.size(), c.loads ? 1u : 0u) << c.text << "\n" << describe(set);
    EXPECT_EQ(set.failed, 0u) << c.text << "\n" << describe(set);
    EXPECT_EQ(set.skipped, c.loads ? 0u : 1u) << c.text;
    if (!c.loads) {
      ASSERT_EQ(set.diagnostics.size(), 1u);
      EXPECT_EQ(set.diagnostics[0].severity, Diagnostic::Severity::kSkipped);
      EXPECT_NE(set.diagnostics[0].to_string().find("t.rules:1:"), std::string::npos);
      EXPECT_NE(set.diagnostics[0].to_string().find("skipped: rule skipped: "), std::string::npos)
          << set.diagnostics[0].to_string();
    }
  }
}

TEST(Requires, TwoVariantsOfOneSidLoadTheOneForThisVersion) {
  const RuleSet set = parse(
      "alert tcp any any -> any any (msg:\"old\"; requires: version < 8; content:\"a\"; sid:7;)\n"
      "alert tcp any any -> any any (msg:\"new\"; requires: version >= 8; content:\"b\"; "
      "sid:7;)\n");
  ASSERT_EQ(set.rules.size(), 1u) << describe(set);
  EXPECT_EQ(set.rules[0].msg, "new");
  EXPECT_EQ(set.failed, 0u) << "no duplicate-sid error for the skipped variant";
  EXPECT_EQ(set.skipped, 1u);
}

TEST(Requires, AMalformedRequiresIsAnError) {
  for (const char* value :
       {"version 8", "version >= 8.x", "version >= 7, version >= 8", "version", "version >="}) {
    const RuleSet set = parse(std::string("alert tcp any any -> any any (msg:\"r\"; requires: ") +
                              value + "; content:\"x\"; sid:1;)");
    EXPECT_EQ(set.failed, 1u) << value << "\n" << describe(set);
    EXPECT_EQ(set.skipped, 0u) << value;
  }
}

}  // namespace
}  // namespace spanguard::rules
