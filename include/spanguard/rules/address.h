// Rule header address and port sets in Snort/Suricata syntax — any, CIDR, lists, negation, nesting
// and $VARIABLES — parsed once into trees and matched per packet.
//
// Semantics of a list: it matches a value when at least one of its positive elements matches (or it
// has none) and none of its negated elements matches. So [198.51.100.0/24,!198.51.100.7] is the /24
// without one host, ![a,b] is everything but a and b, and [!a] is everything but a.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanguard/core/ip_address.h"

namespace spanguard::rules {

// Named address and port groups ($HOME_NET, $HTTP_PORTS, ...), as text.
struct Variables {
  std::map<std::string, std::string, std::less<>> addresses;
  std::map<std::string, std::string, std::less<>> ports;
};

// Suricata's defaults for the variables rule sets expect (HOME_NET, EXTERNAL_NET, HTTP_PORTS...).
Variables default_variables();

// A parse failure: where in the text (0-based column) and why.
struct SpecError {
  size_t column;
  std::string message;
};

class AddressSet {
 public:
  // Parses an address spec; on failure returns nullopt and fills `error`.
  static std::optional<AddressSet> parse(std::string_view text, const Variables& vars,
                                         SpecError& error);
  bool contains(const core::IpAddress& a) const;
  bool is_any() const;
  // Networks whose union holds every address the set contains (negated elements only ever take
  // addresses away, so they are left out); nullopt when no finite list does (any, ![...]).
  std::optional<std::vector<core::IpNetwork>> cover() const;

 private:
  struct Node {
    bool negated = false;
    bool any = false;
    core::IpNetwork network;
    std::vector<Node> children;  // a list when non-empty
  };
  Node root_;
  friend class SpecParser;
};

class PortSet {
 public:
  static std::optional<PortSet> parse(std::string_view text, const Variables& vars,
                                      SpecError& error);
  bool contains(uint16_t port) const;
  bool is_any() const;
  // Inclusive ranges whose union holds every port the set contains; nullopt as for addresses.
  std::optional<std::vector<std::pair<uint16_t, uint16_t>>> cover() const;

 private:
  struct Node {
    bool negated = false;
    bool any = false;
    uint16_t lo = 0, hi = 65535;
    std::vector<Node> children;
  };
  Node root_;
  friend class SpecParser;
};

}  // namespace spanguard::rules
