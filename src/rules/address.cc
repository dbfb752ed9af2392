// Recursive-descent parsing of address and port specs, with variables expanded in place (and
// reference cycles reported rather than followed forever).
#include "spanguard/rules/address.h"

#include <cctype>
#include <charconv>

namespace spanguard::rules {

Variables default_variables() {
  Variables v;
  v.addresses = {
      {"HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"},
      {"EXTERNAL_NET", "!$HOME_NET"},
      {"HTTP_SERVERS", "$HOME_NET"},
      {"SMTP_SERVERS", "$HOME_NET"},
      {"SQL_SERVERS", "$HOME_NET"},
      {"DNS_SERVERS", "$HOME_NET"},
      {"TELNET_SERVERS", "$HOME_NET"},
      {"AIM_SERVERS", "$EXTERNAL_NET"},
      {"DC_SERVERS", "$HOME_NET"},
      {"DNP3_SERVER", "$HOME_NET"},
      {"DNP3_CLIENT", "$HOME_NET"},
      {"MODBUS_CLIENT", "$HOME_NET"},
      {"MODBUS_SERVER", "$HOME_NET"},
      {"ENIP_CLIENT", "$HOME_NET"},
      {"ENIP_SERVER", "$HOME_NET"},
  };
  v.ports = {
      {"HTTP_PORTS", "80"},
      {"SHELLCODE_PORTS", "!80"},
      {"ORACLE_PORTS", "1521"},
      {"SSH_PORTS", "22"},
      {"DNP3_PORTS", "20000"},
      {"MODBUS_PORTS", "502"},
      {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"},
      {"FTP_PORTS", "21"},
      {"GENEVE_PORTS", "6081"},
      {"VXLAN_PORTS", "4789"},
      {"TEREDO_PORTS", "3544"},
  };
  return v;
}

// Parses one spec (address or port) over its text; `kind` chooses the element grammar.
class SpecParser {
 public:
  enum class Kind { kAddress, kPort };
  SpecParser(std::string_view text, const Variables& vars, Kind kind, SpecError& error)
      : text_(text), vars_(vars), kind_(kind), error_(error) {}

  template <typename Node>
  bool parse(Node& root) {
    if (!element(root, 0)) return false;
    skip_spaces();
    if (pos_ != text_.size()) return fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return true;
  }

 private:
  bool fail(std::string message) {
    if (error_.message.empty()) {
      error_.column = base_ + pos_;
      error_.message = std::move(message);
    }
    return false;
  }
  void skip_spaces() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  template <typename Node>
  bool element(Node& node, int depth) {
    if (depth > 16)
      return fail("nesting deeper than 16 levels (a variable that refers to itself?)");
    skip_spaces();
    if (pos_ < text_.size() && text_[pos_] == '!') {
      node.negated = !node.negated;
      ++pos_;
      skip_spaces();
    }
    if (pos_ >= text_.size()) return fail("expected an address or port, found the end");
    if (text_[pos_] == '[') {
      ++pos_;
      for (;;) {
        Node child;
        if (!element(child, depth + 1)) return false;
        node.children.push_back(std::move(child));
        skip_spaces();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ']') {
          ++pos_;
          return true;
        }
        return fail("expected ',' or ']' in list");
      }
    }
    // A single token: up to the next delimiter.
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ']' && text_[pos_] != '[' &&
           !std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    const std::string_view token = text_.substr(start, pos_ - start);
    if (token.empty()) return fail("expected an address or port");
    if (token.front() == '$') return variable(node, token, start, depth);
    if (token == "any") {
      node.any = true;
      return true;
    }
    return leaf(node, token, start);
  }

  template <typename Node>
  bool variable(Node& node, std::string_view token, size_t at, int depth) {
    const auto& table = kind_ == Kind::kAddress ? vars_.addresses : vars_.ports;
    const auto it = table.find(token.substr(1));
    if (it == table.end()) {
      pos_ = at;
      return fail(std::string("unknown ") + (kind_ == Kind::kAddress ? "address" : "port") +
                  " variable '" + std::string(token) + "'");
    }
    SpecError inner_error;
    SpecParser inner(it->second, vars_, kind_, inner_error);
    inner.depth_offset_ = depth + 1;
    Node expanded;
    if (!inner.template parse_nested(expanded)) {
      pos_ = at;
      return fail("in " + std::string(token) + " = \"" + it->second + "\": " + inner_error.message);
    }
    if (node.negated) expanded.negated = !expanded.negated;
    node = std::move(expanded);
    return true;
  }

  template <typename Node>
  bool parse_nested(Node& root) {
    if (!element(root, depth_offset_)) return false;
    skip_spaces();
    if (pos_ != text_.size()) return fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return true;
  }

  bool leaf(AddressSet::Node& node, std::string_view token, size_t at) {
    const auto net = core::IpNetwork::parse(token);
    if (!net) {
      pos_ = at;
      return fail("'" + std::string(token) + "' is not an address, CIDR network, variable or any");
    }
    node.network = *net;
    return true;
  }

  bool leaf(PortSet::Node& node, std::string_view token, size_t at) {
    auto number = [&](std::string_view s, uint16_t& out) {
      unsigned v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > 65535) return false;
      out = static_cast<uint16_t>(v);
      return true;
    };
    const auto colon = token.find(':');
    bool ok;
    if (colon == std::string_view::npos) {
      ok = number(token, node.lo);
      node.hi = node.lo;
    } else {
      // "1024:" and ":1023" leave one end open.
      const std::string_view lo = token.substr(0, colon), hi = token.substr(colon + 1);
      ok = (lo.empty() || number(lo, node.lo)) && (hi.empty() || number(hi, node.hi)) &&
           !(lo.empty() && hi.empty()) && node.lo <= node.hi;
      if (lo.empty()) node.lo = 0;
      if (hi.empty()) node.hi = 65535;
    }
    if (!ok) {
      pos_ = at;
      return fail("'" + std::string(token) +
                  "' is not a port, port range (a:b, a:, :b), variable or any");
    }
    return true;
  }

  std::string_view text_;
  const Variables& vars_;
  Kind kind_;
  SpecError& error_;
  size_t pos_ = 0;
  size_t base_ = 0;
  int depth_offset_ = 0;
};

std::optional<AddressSet> AddressSet::parse(std::string_view text, const Variables& vars,
                                            SpecError& error) {
  AddressSet s;
  SpecParser p(text, vars, SpecParser::Kind::kAddress, error);
  if (!p.parse(s.root_)) return std::nullopt;
  return s;
}

std::optional<PortSet> PortSet::parse(std::string_view text, const Variables& vars,
                                      SpecError& error) {
  PortSet s;
  SpecParser p(text, vars, SpecParser::Kind::kPort, error);
  if (!p.parse(s.root_)) return std::nullopt;
  return s;
}

namespace {

// A list matches when one of its positive elements does (or it has none) and none of its negated
// elements does; a leaf matches by `leaf`. Shared by addresses and ports.
template <typename Node, typename Leaf>
bool match_tree(const Node& n, const Leaf& leaf) {
  bool hit;
  if (!n.children.empty()) {
    bool any_positive = false, positive_hit = false, negative_hit = false;
    for (const Node& c : n.children) {
      if (c.negated) {
        negative_hit = negative_hit || !match_tree(c, leaf);  // true when the value is inside c
      } else {
        any_positive = true;
        positive_hit = positive_hit || match_tree(c, leaf);
      }
    }
    hit = (!any_positive || positive_hit) && !negative_hit;
  } else {
    hit = n.any || leaf(n);
  }
  return n.negated ? !hit : hit;
}

// Calls `leaf` on each positive leaf of a tree; false when the tree is unbounded: an `any`, a
// negated element outside a list with positive siblings, or a list of negations only.
template <typename Node, typename Leaf>
bool collect_cover(const Node& n, const Leaf& leaf) {
  if (n.negated) return false;
  if (n.children.empty()) {
    if (n.any) return false;
    leaf(n);
    return true;
  }
  bool any_positive = false;
  for (const Node& c : n.children) {
    if (c.negated) continue;  // only subtracts
    any_positive = true;
    if (!collect_cover(c, leaf)) return false;
  }
  return any_positive;
}

}  // namespace

std::optional<std::vector<core::IpNetwork>> AddressSet::cover() const {
  std::vector<core::IpNetwork> out;
  if (!collect_cover(root_, [&](const Node& n) { out.push_back(n.network); })) return std::nullopt;
  return out;
}

std::optional<std::vector<std::pair<uint16_t, uint16_t>>> PortSet::cover() const {
  std::vector<std::pair<uint16_t, uint16_t>> out;
  if (!collect_cover(root_, [&](const Node& n) { out.emplace_back(n.lo, n.hi); })) {
    return std::nullopt;
  }
  return out;
}

bool AddressSet::contains(const core::IpAddress& a) const {
  return match_tree(root_, [&](const Node& n) { return n.network.contains(a); });
}
bool AddressSet::is_any() const { return root_.any && !root_.negated && root_.children.empty(); }

bool PortSet::contains(uint16_t port) const {
  return match_tree(root_, [&](const Node& n) { return port >= n.lo && port <= n.hi; });
}
bool PortSet::is_any() const { return root_.any && !root_.negated && root_.children.empty(); }

}  // namespace spanguard::rules
