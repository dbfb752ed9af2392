// Rule header address and port sets: any, CIDR, lists, negation, nesting and $VARIABLES, with the
// position and text of every parse error. Addresses come from the documentation ranges only
// (RFC 5737 198.51.100.0/24 and 203.0.113.0/24, RFC 3849 2001:db8::/32).
#include "spanguard/rules/address.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spanguard::rules {
namespace {

core::IpAddress ip(std::string_view text) {
  const auto a = core::IpAddress::parse(text);
  if (!a) ADD_FAILURE() << "test address does not parse: " << text;
  return a.value_or(core::IpAddress());
}

std::optional<AddressSet> addresses(std::string_view spec, const Variables& vars) {
  SpecError error{};
  auto set = AddressSet::parse(spec, vars, error);
  if (!set) ADD_FAILURE() << "'" << spec << "' failed at " << error.column << ": " << error.message;
  return set;
}
std::optional<AddressSet> addresses(std::string_view spec) {
  return addresses(spec, default_variables());
}

std::optional<PortSet> ports(std::string_view spec, const Variables& vars) {
  SpecError error{};
  auto set = PortSet::parse(spec, vars, error);
  if (!set) ADD_FAILURE() << "'" << spec << "' failed at " << error.column << ": " << error.message;
  return set;
}
std::optional<PortSet> ports(std::string_view spec) { return ports(spec, default_variables()); }

SpecError address_error(std::string_view spec, const Variables& vars) {
  SpecError error{};
  if (AddressSet::parse(spec, vars, error)) ADD_FAILURE() << "'" << spec << "' parsed";
  return error;
}
SpecError address_error(std::string_view spec) { return address_error(spec, default_variables()); }

SpecError port_error(std::string_view spec, const Variables& vars) {
  SpecError error{};
  if (PortSet::parse(spec, vars, error)) ADD_FAILURE() << "'" << spec << "' parsed";
  return error;
}
SpecError port_error(std::string_view spec) { return port_error(spec, default_variables()); }

// A home network of documentation ranges, so membership can be checked from both sides.
Variables documentation_variables() {
  Variables v;
  v.addresses = {
      {"HOME_NET", "[198.51.100.0/24,2001:db8::/32]"},
      {"EXTERNAL_NET", "!$HOME_NET"},
      {"SERVERS", "$HOME_NET"},
      {"WEB", "[$SERVERS,!198.51.100.7]"},
      {"NARROW", "198.51.100.0/25"},
      {"CHAIN", "$MIDDLE"},
      {"MIDDLE", "[$NARROW,203.0.113.0/24]"},
      {"EVERYTHING", "any"},
  };
  v.ports = {
      {"WEB_PORTS", "[80,443]"},
      {"ALT_PORTS", "[$WEB_PORTS,8080:8081]"},
      {"HIGH", "1024:"},
  };
  return v;
}

// ---- addresses ---------------------------------------------------------------------------------

TEST(AddressSet, AnyMatchesBothFamilies) {
  const auto set = addresses("any");
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->is_any());
  EXPECT_TRUE(set->contains(ip("198.51.100.0")));
  EXPECT_TRUE(set->contains(ip("203.0.113.255")));
  EXPECT_TRUE(set->contains(ip("2001:db8::1")));
}

TEST(AddressSet, AnyInsideAListOrNegatedIsNotReportedAsAny) {
  const auto list = addresses("[any]");
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->is_any());
  EXPECT_TRUE(list->contains(ip("198.51.100.1")));
  const auto none = addresses("!any");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->is_any());
  EXPECT_FALSE(none->contains(ip("198.51.100.1")));
  EXPECT_FALSE(none->contains(ip("2001:db8::1")));
  const auto var = addresses("$EVERYTHING", documentation_variables());
  ASSERT_TRUE(var);
  EXPECT_TRUE(var->is_any());
}

TEST(AddressSet, Ipv4CidrMatchesInsideAndAtItsEdgesOnly) {
  const auto set = addresses("198.51.100.64/26");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->is_any());
  EXPECT_FALSE(set->contains(ip("198.51.100.63")));
  EXPECT_TRUE(set->contains(ip("198.51.100.64")));
  EXPECT_TRUE(set->contains(ip("198.51.100.100")));
  EXPECT_TRUE(set->contains(ip("198.51.100.127")));
  EXPECT_FALSE(set->contains(ip("198.51.100.128")));
  EXPECT_FALSE(set->contains(ip("2001:db8::c633:6440")));  // other family

  const auto net24 = addresses("198.51.100.0/24");
  ASSERT_TRUE(net24);
  EXPECT_TRUE(net24->contains(ip("198.51.100.0")));
  EXPECT_TRUE(net24->contains(ip("198.51.100.255")));
  EXPECT_FALSE(net24->contains(ip("203.0.113.0")));
  EXPECT_FALSE(net24->contains(ip("203.0.113.255")));
}

TEST(AddressSet, Ipv6CidrMatchesInsideAndAtItsEdgesOnly) {
  const auto set = addresses("2001:db8:1::/48");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(ip("2001:db8:0:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(set->contains(ip("2001:db8:1::")));
  EXPECT_TRUE(set->contains(ip("2001:db8:1:2::3")));
  EXPECT_TRUE(set->contains(ip("2001:db8:1:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(set->contains(ip("2001:db8:2::")));
  EXPECT_FALSE(set->contains(ip("198.51.100.1")));

  const auto net32 = addresses("2001:db8::/32");
  ASSERT_TRUE(net32);
  EXPECT_TRUE(net32->contains(ip("2001:db8::")));
  EXPECT_TRUE(net32->contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(net32->contains(ip("198.51.100.1")));
}

TEST(AddressSet, SingleHostMatchesOnlyItself) {
  const auto v4 = addresses("198.51.100.7");
  ASSERT_TRUE(v4);
  EXPECT_FALSE(v4->contains(ip("198.51.100.6")));
  EXPECT_TRUE(v4->contains(ip("198.51.100.7")));
  EXPECT_FALSE(v4->contains(ip("198.51.100.8")));
  const auto v6 = addresses("2001:db8::7");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->contains(ip("2001:db8::6")));
  EXPECT_TRUE(v6->contains(ip("2001:db8::7")));
  EXPECT_FALSE(v6->contains(ip("2001:db8::8")));
  EXPECT_FALSE(v6->contains(ip("198.51.100.7")));
}

TEST(AddressSet, ListMatchesAnyOfItsElements) {
  const auto set = addresses("[198.51.100.0/25, 203.0.113.7 ,2001:db8:1::/48]");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->is_any());
  EXPECT_TRUE(set->contains(ip("198.51.100.0")));
  EXPECT_TRUE(set->contains(ip("198.51.100.127")));
  EXPECT_FALSE(set->contains(ip("198.51.100.128")));
  EXPECT_FALSE(set->contains(ip("203.0.113.6")));
  EXPECT_TRUE(set->contains(ip("203.0.113.7")));
  EXPECT_FALSE(set->contains(ip("203.0.113.8")));
  EXPECT_TRUE(set->contains(ip("2001:db8:1::9")));
  EXPECT_FALSE(set->contains(ip("2001:db8:2::")));
}

TEST(AddressSet, NegatedElementMatchesEverythingElse) {
  const auto set = addresses("!198.51.100.7");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->is_any());
  EXPECT_TRUE(set->contains(ip("198.51.100.6")));
  EXPECT_FALSE(set->contains(ip("198.51.100.7")));
  EXPECT_TRUE(set->contains(ip("198.51.100.8")));
  EXPECT_TRUE(set->contains(ip("2001:db8::1")));
  const auto spaced = addresses("! 198.51.100.7");
  ASSERT_TRUE(spaced);
  EXPECT_FALSE(spaced->contains(ip("198.51.100.7")));
  EXPECT_TRUE(spaced->contains(ip("198.51.100.8")));
}

TEST(AddressSet, NegatedListMatchesNoneOfItsElements) {
  const auto set = addresses("![198.51.100.0/25,203.0.113.7]");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(ip("198.51.100.0")));
  EXPECT_FALSE(set->contains(ip("198.51.100.127")));
  EXPECT_TRUE(set->contains(ip("198.51.100.128")));
  EXPECT_TRUE(set->contains(ip("203.0.113.6")));
  EXPECT_FALSE(set->contains(ip("203.0.113.7")));
  EXPECT_TRUE(set->contains(ip("2001:db8::1")));
}

TEST(AddressSet, ListOfOnlyNegatedElementsMatchesEverythingElse) {
  const auto set = addresses("[!198.51.100.7,!2001:db8::/48]");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(ip("198.51.100.7")));
  EXPECT_TRUE(set->contains(ip("198.51.100.8")));
  EXPECT_TRUE(set->contains(ip("203.0.113.1")));
  EXPECT_FALSE(set->contains(ip("2001:db8::1")));
  EXPECT_TRUE(set->contains(ip("2001:db8:1::1")));
}

TEST(AddressSet, DoubleNegationCancels) {
  const auto set = addresses("![!198.51.100.7]");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(ip("198.51.100.6")));
  EXPECT_TRUE(set->contains(ip("198.51.100.7")));
  EXPECT_FALSE(set->contains(ip("198.51.100.8")));
  EXPECT_FALSE(set->contains(ip("2001:db8::1")));

  // EXTERNAL_NET is !$HOME_NET, so !$EXTERNAL_NET is the home network again.
  const auto vars = documentation_variables();
  const auto home_again = addresses("!$EXTERNAL_NET", vars);
  ASSERT_TRUE(home_again);
  EXPECT_TRUE(home_again->contains(ip("198.51.100.1")));
  EXPECT_TRUE(home_again->contains(ip("2001:db8::1")));
  EXPECT_FALSE(home_again->contains(ip("203.0.113.1")));
}

TEST(AddressSet, NetworkWithNegatedHostExcludesOnlyThatHost) {
  const auto set = addresses("[198.51.100.0/24,!198.51.100.7]");
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->contains(ip("198.51.100.0")));
  EXPECT_TRUE(set->contains(ip("198.51.100.6")));
  EXPECT_FALSE(set->contains(ip("198.51.100.7")));
  EXPECT_TRUE(set->contains(ip("198.51.100.8")));
  EXPECT_TRUE(set->contains(ip("198.51.100.255")));
  EXPECT_FALSE(set->contains(ip("203.0.113.7")));
  EXPECT_FALSE(set->contains(ip("2001:db8::7")));
}

TEST(AddressSet, NestedListsCombinePositiveAndNegatedSublists) {
  // (the lower /25 or 203.0.113.0/24) minus (the lowest /26 except .10)
  const auto set =
      addresses("[[198.51.100.0/25,203.0.113.0/24],![198.51.100.0/26,!198.51.100.10]]");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(ip("198.51.100.0")));
  EXPECT_FALSE(set->contains(ip("198.51.100.9")));
  EXPECT_TRUE(set->contains(ip("198.51.100.10")));
  EXPECT_FALSE(set->contains(ip("198.51.100.11")));
  EXPECT_FALSE(set->contains(ip("198.51.100.63")));
  EXPECT_TRUE(set->contains(ip("198.51.100.64")));
  EXPECT_TRUE(set->contains(ip("198.51.100.127")));
  EXPECT_FALSE(set->contains(ip("198.51.100.128")));
  EXPECT_TRUE(set->contains(ip("203.0.113.0")));
  EXPECT_TRUE(set->contains(ip("203.0.113.255")));
  EXPECT_FALSE(set->contains(ip("2001:db8::1")));
}

TEST(AddressSet, DefaultHomeNetExcludesDocumentationRangesAndExternalNetIsItsComplement) {
  const Variables vars = default_variables();
  for (const char* name : {"HOME_NET", "EXTERNAL_NET", "HTTP_SERVERS", "DNS_SERVERS"}) {
    EXPECT_TRUE(vars.addresses.contains(name)) << name;
  }
  for (const char* name : {"HTTP_PORTS", "SSH_PORTS", "FILE_DATA_PORTS"}) {
    EXPECT_TRUE(vars.ports.contains(name)) << name;
  }
  const auto home = addresses("$HOME_NET");
  const auto external = addresses("$EXTERNAL_NET");
  const auto servers = addresses("$HTTP_SERVERS");
  const auto not_home = addresses("!$HOME_NET");
  const auto not_external = addresses("!$EXTERNAL_NET");
  ASSERT_TRUE(home && external && servers && not_home && not_external);
  EXPECT_FALSE(home->is_any());
  EXPECT_FALSE(external->is_any());
  for (const char* text : {"198.51.100.1", "203.0.113.254", "2001:db8::1"}) {
    const core::IpAddress a = ip(text);
    EXPECT_FALSE(home->contains(a)) << text;
    EXPECT_FALSE(servers->contains(a)) << text;
    EXPECT_TRUE(external->contains(a)) << text;
    EXPECT_TRUE(not_home->contains(a)) << text;
    EXPECT_FALSE(not_external->contains(a)) << text;
  }
}

TEST(AddressSet, CustomVariablesExpandIncludingOneThatRefersToAnother) {
  const Variables vars = documentation_variables();
  const auto home = addresses("$HOME_NET", vars);
  const auto external = addresses("$EXTERNAL_NET", vars);
  const auto servers = addresses("$SERVERS", vars);  // = $HOME_NET
  const auto web = addresses("$WEB", vars);          // = [$SERVERS,!198.51.100.7]
  ASSERT_TRUE(home && external && servers && web);
  for (const char* inside : {"198.51.100.0", "198.51.100.255", "2001:db8::", "2001:db8:ffff::1"}) {
    EXPECT_TRUE(home->contains(ip(inside))) << inside;
    EXPECT_TRUE(servers->contains(ip(inside))) << inside;
    EXPECT_FALSE(external->contains(ip(inside))) << inside;
  }
  for (const char* outside : {"203.0.113.0", "203.0.113.255"}) {
    EXPECT_FALSE(home->contains(ip(outside))) << outside;
    EXPECT_FALSE(servers->contains(ip(outside))) << outside;
    EXPECT_TRUE(external->contains(ip(outside))) << outside;
  }
  EXPECT_TRUE(web->contains(ip("198.51.100.6")));
  EXPECT_FALSE(web->contains(ip("198.51.100.7")));
  EXPECT_TRUE(web->contains(ip("198.51.100.8")));
  EXPECT_TRUE(web->contains(ip("2001:db8::7")));
  EXPECT_FALSE(web->contains(ip("203.0.113.7")));
}

TEST(AddressSet, VariableChainsAndVariablesInsideListsExpand) {
  const Variables vars = documentation_variables();
  const auto chain = addresses("$CHAIN", vars);  // $MIDDLE = [$NARROW,203.0.113.0/24]
  ASSERT_TRUE(chain);
  EXPECT_TRUE(chain->contains(ip("198.51.100.127")));
  EXPECT_FALSE(chain->contains(ip("198.51.100.128")));
  EXPECT_TRUE(chain->contains(ip("203.0.113.1")));

  const auto list = addresses("[$NARROW,!198.51.100.5,2001:db8::1]", vars);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->contains(ip("198.51.100.4")));
  EXPECT_FALSE(list->contains(ip("198.51.100.5")));
  EXPECT_FALSE(list->contains(ip("198.51.100.200")));
  EXPECT_TRUE(list->contains(ip("2001:db8::1")));

  const auto negated_in_list = addresses("[$HOME_NET,!$NARROW]", vars);
  ASSERT_TRUE(negated_in_list);
  EXPECT_FALSE(negated_in_list->contains(ip("198.51.100.127")));
  EXPECT_TRUE(negated_in_list->contains(ip("198.51.100.128")));
  EXPECT_TRUE(negated_in_list->contains(ip("2001:db8::1")));
}

TEST(AddressSet, UndefinedVariableIsAnErrorNamingIt) {
  const SpecError bare = address_error("$NOPE");
  EXPECT_EQ(bare.column, 0u);
  EXPECT_EQ(bare.message, "unknown address variable '$NOPE'");

  const SpecError in_list = address_error("[198.51.100.0/24,$NOPE]");
  EXPECT_EQ(in_list.column, 17u);
  EXPECT_NE(in_list.message.find("'$NOPE'"), std::string::npos) << in_list.message;

  // Port variables are a separate namespace.
  const SpecError port_name = address_error("$HTTP_PORTS");
  EXPECT_NE(port_name.message.find("unknown address variable '$HTTP_PORTS'"), std::string::npos);
}

TEST(AddressSet, ErrorInsideAVariableNamesTheVariableAndItsText) {
  Variables vars = documentation_variables();
  vars.addresses["BAD"] = "[198.51.100.0/24,198.51.100.300]";
  const SpecError error = address_error("[203.0.113.1,$BAD]", vars);
  EXPECT_EQ(error.column, 13u);  // at $BAD
  EXPECT_NE(error.message.find("$BAD"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("198.51.100.300"), std::string::npos) << error.message;
}

TEST(AddressSet, SelfReferencingVariableIsAnErrorNotAHang) {
  Variables vars;
  vars.addresses["LOOP"] = "$LOOP";
  vars.addresses["PING"] = "[198.51.100.1,$PONG]";
  vars.addresses["PONG"] = "$PING";
  const SpecError self = address_error("$LOOP", vars);
  EXPECT_EQ(self.column, 0u);
  EXPECT_NE(self.message.find("$LOOP"), std::string::npos) << self.message;
  EXPECT_NE(self.message.find("nesting deeper than 16 levels"), std::string::npos) << self.message;

  const SpecError mutual = address_error("[203.0.113.1,$PING]", vars);
  EXPECT_EQ(mutual.column, 13u);
  EXPECT_NE(mutual.message.find("$PING"), std::string::npos) << mutual.message;
  EXPECT_NE(mutual.message.find("nesting deeper than 16 levels"), std::string::npos)
      << mutual.message;

  Variables port_vars;
  port_vars.ports["LOOP"] = "[80,$LOOP]";
  const SpecError port_loop = port_error("$LOOP", port_vars);
  EXPECT_NE(port_loop.message.find("nesting deeper than 16 levels"), std::string::npos)
      << port_loop.message;
}

TEST(AddressSet, ErrorColumnPointsAtTheBadToken) {
  struct Case {
    const char* spec;
    size_t column;
    const char* message_part;
  };
  const Case cases[] = {
      {"198.51.100.300", 0, "'198.51.100.300' is not an address, CIDR network, variable or any"},
      {"198.51.100.0/33", 0, "'198.51.100.0/33' is not an address"},
      {"2001:db8::/129", 0, "'2001:db8::/129' is not an address"},
      {"[198.51.100.1,bogus]", 14, "'bogus' is not an address"},
      {"[198.51.100.1, ![203.0.113.0/24,nope]]", 32, "'nope' is not an address"},
      {"[198.51.100.1", 13, "expected ',' or ']' in list"},
      {"198.51.100.1 203.0.113.1", 13, "unexpected '2'"},
      {"[198.51.100.1]]", 14, "unexpected ']'"},
      {"", 0, "expected an address or port, found the end"},
      {"!", 1, "expected an address or port, found the end"},
      {"[]", 1, "expected an address or port"},
      {"[198.51.100.1,]", 14, "expected an address or port"},
  };
  for (const Case& c : cases) {
    const SpecError error = address_error(c.spec);
    EXPECT_EQ(error.column, c.column) << c.spec << ": " << error.message;
    EXPECT_NE(error.message.find(c.message_part), std::string::npos)
        << c.spec << ": " << error.message;
  }
}

// ---- ports -------------------------------------------------------------------------------------

TEST(PortSet, AnyMatchesEveryPort) {
  const auto set = ports("any");
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->is_any());
  EXPECT_TRUE(set->contains(0));
  EXPECT_TRUE(set->contains(80));
  EXPECT_TRUE(set->contains(65535));
}

TEST(PortSet, SinglePortMatchesOnlyItself) {
  const auto set = ports("80");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->is_any());
  EXPECT_FALSE(set->contains(79));
  EXPECT_TRUE(set->contains(80));
  EXPECT_FALSE(set->contains(81));
  const auto zero = ports("0");
  ASSERT_TRUE(zero);
  EXPECT_TRUE(zero->contains(0));
  EXPECT_FALSE(zero->contains(1));
  const auto top = ports("65535");
  ASSERT_TRUE(top);
  EXPECT_FALSE(top->contains(65534));
  EXPECT_TRUE(top->contains(65535));
}

TEST(PortSet, OpenEndedRangesReachTheLimits) {
  const auto high = ports("1024:");
  ASSERT_TRUE(high);
  EXPECT_FALSE(high->contains(0));
  EXPECT_FALSE(high->contains(1023));
  EXPECT_TRUE(high->contains(1024));
  EXPECT_TRUE(high->contains(65535));
  const auto low = ports(":1023");
  ASSERT_TRUE(low);
  EXPECT_TRUE(low->contains(0));
  EXPECT_TRUE(low->contains(1023));
  EXPECT_FALSE(low->contains(1024));
  EXPECT_FALSE(low->contains(65535));
}

TEST(PortSet, ClosedRangeIncludesBothEnds) {
  const auto set = ports("80:90");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(79));
  EXPECT_TRUE(set->contains(80));
  EXPECT_TRUE(set->contains(85));
  EXPECT_TRUE(set->contains(90));
  EXPECT_FALSE(set->contains(91));
  const auto one = ports("80:80");
  ASSERT_TRUE(one);
  EXPECT_FALSE(one->contains(79));
  EXPECT_TRUE(one->contains(80));
  EXPECT_FALSE(one->contains(81));
  const auto all = ports("0:65535");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(0));
  EXPECT_TRUE(all->contains(65535));
}

TEST(PortSet, ListMatchesAnyOfItsElements) {
  const auto set = ports("[80, 443,8000:8080]");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->contains(79));
  EXPECT_TRUE(set->contains(80));
  EXPECT_FALSE(set->contains(81));
  EXPECT_FALSE(set->contains(442));
  EXPECT_TRUE(set->contains(443));
  EXPECT_FALSE(set->contains(444));
  EXPECT_FALSE(set->contains(7999));
  EXPECT_TRUE(set->contains(8000));
  EXPECT_TRUE(set->contains(8080));
  EXPECT_FALSE(set->contains(8081));
}

TEST(PortSet, NegationOfAPortARangeAndAList) {
  const auto port = ports("!80");
  ASSERT_TRUE(port);
  EXPECT_TRUE(port->contains(79));
  EXPECT_FALSE(port->contains(80));
  EXPECT_TRUE(port->contains(81));

  const auto list = ports("![80:90,443]");
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->contains(79));
  EXPECT_FALSE(list->contains(80));
  EXPECT_FALSE(list->contains(90));
  EXPECT_TRUE(list->contains(91));
  EXPECT_FALSE(list->contains(443));
  EXPECT_TRUE(list->contains(444));

  const auto except = ports("[1024:,!8080]");
  ASSERT_TRUE(except);
  EXPECT_FALSE(except->contains(1023));
  EXPECT_TRUE(except->contains(1024));
  EXPECT_TRUE(except->contains(8079));
  EXPECT_FALSE(except->contains(8080));
  EXPECT_TRUE(except->contains(8081));
  EXPECT_TRUE(except->contains(65535));

  const auto only_negated = ports("[!80]");
  ASSERT_TRUE(only_negated);
  EXPECT_FALSE(only_negated->contains(80));
  EXPECT_TRUE(only_negated->contains(81));

  const auto twice = ports("![!80]");
  ASSERT_TRUE(twice);
  EXPECT_FALSE(twice->contains(79));
  EXPECT_TRUE(twice->contains(80));
  EXPECT_FALSE(twice->contains(81));
}

TEST(PortSet, NestedListsCombinePositiveAndNegatedSublists) {
  // (80 or 440:450) minus (440:450 except 443)
  const auto set = ports("[[80,440:450],![440:450,!443]]");
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->contains(80));
  EXPECT_FALSE(set->contains(440));
  EXPECT_FALSE(set->contains(442));
  EXPECT_TRUE(set->contains(443));
  EXPECT_FALSE(set->contains(444));
  EXPECT_FALSE(set->contains(450));
  EXPECT_FALSE(set->contains(451));
}

// ---- covers (what rule grouping files a rule under) -----------------------------------------

std::vector<std::string> cover_text(const AddressSet& set) {
  std::vector<std::string> out;
  for (const core::IpNetwork& n : set.cover().value_or(std::vector<core::IpNetwork>{})) {
    out.push_back(n.to_string());
  }
  return out;
}

TEST(AddressSet, CoverListsThePositiveNetworksAndLeavesOutWhatIsSubtracted) {
  const Variables vars = documentation_variables();
  EXPECT_EQ(cover_text(*addresses("[198.51.100.7,2001:db8::/48]", vars)),
            (std::vector<std::string>{"198.51.100.7/32", "2001:db8::/48"}));
  // A negated element only takes addresses away: the cover is the positive part.
  EXPECT_EQ(cover_text(*addresses("$WEB", vars)),
            (std::vector<std::string>{"198.51.100.0/24", "2001:db8::/32"}));
  EXPECT_EQ(cover_text(*addresses("$CHAIN", vars)),
            (std::vector<std::string>{"198.51.100.0/25", "203.0.113.0/24"}));
}

TEST(AddressSet, CoverIsAbsentWhenTheSetIsUnbounded) {
  const Variables vars = documentation_variables();
  for (const char* spec :
       {"any", "$EVERYTHING", "$EXTERNAL_NET", "!198.51.100.7", "[!198.51.100.7]",
        "[198.51.100.7,[!198.51.100.8]]", "[198.51.100.7,any]"}) {
    const auto set = addresses(spec, vars);
    ASSERT_TRUE(set) << spec;
    EXPECT_FALSE(set->cover()) << spec;
  }
}

TEST(PortSet, CoverListsThePositiveRanges) {
  const Variables vars = documentation_variables();
  using Ranges = std::vector<std::pair<uint16_t, uint16_t>>;
  EXPECT_EQ(ports("$ALT_PORTS", vars)->cover(), (Ranges{{80, 80}, {443, 443}, {8080, 8081}}));
  EXPECT_EQ(ports("[1000:1010,!1005]", vars)->cover(), (Ranges{{1000, 1010}}));
  EXPECT_EQ(ports("$HIGH", vars)->cover(), (Ranges{{1024, 65535}}));
  for (const char* spec : {"any", "!22", "[!22,!23]"}) {
    EXPECT_FALSE(ports(spec, vars)->cover()) << spec;
  }
}

TEST(PortSet, VariablesExpandIncludingOnesThatReferToOthers) {
  const auto http = ports("$HTTP_PORTS");  // 80
  ASSERT_TRUE(http);
  EXPECT_FALSE(http->contains(79));
  EXPECT_TRUE(http->contains(80));
  EXPECT_FALSE(http->contains(81));

  const auto file_data = ports("$FILE_DATA_PORTS");  // [$HTTP_PORTS,110,143]
  ASSERT_TRUE(file_data);
  EXPECT_TRUE(file_data->contains(80));
  EXPECT_TRUE(file_data->contains(110));
  EXPECT_FALSE(file_data->contains(111));
  EXPECT_TRUE(file_data->contains(143));
  EXPECT_FALSE(file_data->contains(443));

  const auto shellcode = ports("$SHELLCODE_PORTS");  // !80
  ASSERT_TRUE(shellcode);
  EXPECT_FALSE(shellcode->contains(80));
  EXPECT_TRUE(shellcode->contains(81));
  const auto not_shellcode = ports("!$SHELLCODE_PORTS");
  ASSERT_TRUE(not_shellcode);
  EXPECT_TRUE(not_shellcode->contains(80));
  EXPECT_FALSE(not_shellcode->contains(81));

  const Variables vars = documentation_variables();
  const auto alt = ports("$ALT_PORTS", vars);  // [$WEB_PORTS,8080:8081]
  ASSERT_TRUE(alt);
  EXPECT_TRUE(alt->contains(80));
  EXPECT_TRUE(alt->contains(443));
  EXPECT_FALSE(alt->contains(8079));
  EXPECT_TRUE(alt->contains(8080));
  EXPECT_TRUE(alt->contains(8081));
  EXPECT_FALSE(alt->contains(8082));
  const auto mixed = ports("[$HIGH,!$ALT_PORTS]", vars);
  ASSERT_TRUE(mixed);
  EXPECT_FALSE(mixed->contains(443));
  EXPECT_TRUE(mixed->contains(1024));
  EXPECT_FALSE(mixed->contains(8080));
  EXPECT_TRUE(mixed->contains(8082));
}

TEST(PortSet, ErrorsNameTheBadTokenAndPointAtIt) {
  struct Case {
    const char* spec;
    size_t column;
    const char* message_part;
  };
  const Case cases[] = {
      {"70000", 0, "'70000' is not a port, port range (a:b, a:, :b), variable or any"},
      {"65536", 0, "'65536' is not a port"},
      {"90:80", 0, "'90:80' is not a port"},
      {"1024:70000", 0, "'1024:70000' is not a port"},
      {":", 0, "':' is not a port"},
      {"http", 0, "'http' is not a port"},
      {"80-90", 0, "'80-90' is not a port"},
      {"[80,70000]", 4, "'70000' is not a port"},
      {"[80, ![443,90:80]]", 11, "'90:80' is not a port"},
      {"[80,443", 7, "expected ',' or ']' in list"},
      {"80 443", 3, "unexpected '4'"},
      {"$NOPE", 0, "unknown port variable '$NOPE'"},
      {"[80,$HOME_NET]", 4, "unknown port variable '$HOME_NET'"},
  };
  for (const Case& c : cases) {
    const SpecError error = port_error(c.spec);
    EXPECT_EQ(error.column, c.column) << c.spec << ": " << error.message;
    EXPECT_NE(error.message.find(c.message_part), std::string::npos)
        << c.spec << ": " << error.message;
  }
}

TEST(PortSet, ErrorInsideAPortVariableNamesTheVariable) {
  Variables vars;
  vars.ports["BAD"] = "[80,90:80]";
  const SpecError error = port_error("[443,$BAD]", vars);
  EXPECT_EQ(error.column, 5u);
  EXPECT_NE(error.message.find("$BAD"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("'90:80' is not a port"), std::string::npos) << error.message;
}

}  // namespace
}  // namespace spanguard::rules
