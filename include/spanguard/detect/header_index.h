// Header-only rules (no content, no pcre) grouped by the header field that selects them best, so
// that a packet nominates only the rules it could satisfy instead of all of them — the job of
// Suricata's IP-only engine and Snort's port groups.
//
// Each rule is filed under one key: the address side (source or destination) whose networks are
// narrowest, else the port side with the fewest ports, else nothing ("generic": nominated by every
// packet). The key is a necessary condition, never a sufficient one: a nominated rule still has
// its whole header judged. Bidirectional rules (`<>`) are filed under "either end".
//
// Typical payoff: IP-reputation files (hundreds of `alert ip [list of hosts] any -> $HOME_NET any`
// rules) cost a few hash lookups per packet rather than a pass over every rule.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "spanguard/core/ip_address.h"
#include "spanguard/rules/rule.h"

namespace spanguard::detect {

class HeaderIndex {
 public:
  // Files rule number `index`.
  void add(uint32_t index, const rules::Rule& rule);

  // Calls `visit(std::span<const uint32_t>)` with lists of rules a packet with these header fields
  // could match (a rule may appear in more than one list).
  template <typename Visit>
  void visit(const core::IpAddress& src, const core::IpAddress& dst, uint16_t sport, uint16_t dport,
             Visit&& visit) const {
    if (!generic_.empty()) visit(std::span<const uint32_t>(generic_));
    addresses_[kSrc].visit(src, visit);
    addresses_[kDst].visit(dst, visit);
    addresses_[kEither].visit(src, visit);
    addresses_[kEither].visit(dst, visit);
    ports_[kSrc].visit(sport, visit);
    ports_[kDst].visit(dport, visit);
    ports_[kEither].visit(sport, visit);
    ports_[kEither].visit(dport, visit);
  }

  struct Stats {
    size_t by_address = 0, by_port = 0, generic = 0;
  };
  const Stats& stats() const { return stats_; }
  bool empty() const { return stats_.by_address + stats_.by_port + stats_.generic == 0; }

 private:
  enum Side : uint8_t { kSrc, kDst, kEither, kSides };

  // Rules by network: one hash table per (family, prefix length) in use; a lookup masks the
  // address to each length in turn.
  class AddressIndex {
   public:
    void add(const core::IpNetwork& network, uint32_t rule);
    template <typename Visit>
    void visit(const core::IpAddress& a, Visit& visit) const {
      for (const Level& level : levels_) {
        if (level.family != a.family()) continue;
        const auto it = level.rules.find(core::IpNetwork(a, level.prefix_len).base());
        if (it != level.rules.end()) visit(std::span<const uint32_t>(it->second));
      }
    }

   private:
    struct Hash {
      size_t operator()(const core::IpAddress& a) const;
    };
    struct Level {
      int family = 0;
      int prefix_len = 0;
      std::unordered_map<core::IpAddress, std::vector<uint32_t>, Hash> rules;
    };
    std::vector<Level> levels_;
  };

  class PortIndex {
   public:
    void add(uint16_t port, uint32_t rule);
    template <typename Visit>
    void visit(uint16_t port, Visit& visit) const {
      if (rules_.empty()) return;
      const auto it = rules_.find(port);
      if (it != rules_.end()) visit(std::span<const uint32_t>(it->second));
    }

   private:
    std::unordered_map<uint16_t, std::vector<uint32_t>> rules_;
  };

  AddressIndex addresses_[kSides];
  PortIndex ports_[kSides];
  std::vector<uint32_t> generic_;
  Stats stats_;
};

}  // namespace spanguard::detect
