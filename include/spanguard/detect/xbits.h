// xbits kept per host or host pair: a bit one rule sets on an address (or an unordered pair of
// addresses) that rules check on other flows until it expires, as Suricata's host and IP-pair
// tables hold them. One store serves every worker, so that a bit set on one flow is seen on
// another whichever worker carries it; a mutex guards it, and only rules with xbits touch it.
// Bounded: when full it drops expired bits, then refuses new ones (counted).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "spanguard/core/ip_address.h"
#include "spanguard/core/time.h"

namespace spanguard::detect {

class XbitStore {
 public:
  // The bit `bit` of one address (b unset) or of a pair (a < b).
  struct Key {
    uint16_t bit = 0;
    core::IpAddress a, b;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  static Key host(uint16_t bit, const core::IpAddress& address) { return {bit, address, {}}; }
  static Key pair(uint16_t bit, const core::IpAddress& x, const core::IpAddress& y) {
    return x < y ? Key{bit, x, y} : Key{bit, y, x};
  }

  explicit XbitStore(size_t max_bits = size_t{1} << 20) : max_bits_(max_bits) {}

  bool isset(const Key& k, core::Timestamp now) const;
  void set(const Key& k, core::Timestamp now, core::Duration lifetime);
  void unset(const Key& k);
  void toggle(const Key& k, core::Timestamp now, core::Duration lifetime);
  size_t size() const;
  uint64_t refused() const;

 private:
  void set_locked(const Key& k, core::Timestamp now, core::Duration lifetime);

  mutable std::mutex mutex_;
  std::map<Key, core::Timestamp> expiry_;
  size_t max_bits_;
  uint64_t refused_ = 0;
};

}  // namespace spanguard::detect
