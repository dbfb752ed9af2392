// A switch with a mirror port, built from network namespaces: client and server hosts joined by a
// bridge, every frame between them mirrored (tc mirred) to the sensor's capture interface, and a
// separate bridge port for injection. Offloads are off everywhere so the mirror carries real
// frames.
//
//   client ns          switch ns (br0)                    sensor ns
//   c0 ───────────── sw-c ┐                 mirred ──►  sw-mir ───── mir0 (capture)
//   s0 ───────────── sw-s ┤ (both mirrored)
//   (server ns)      sw-inj ┘ (bridge port) ──────────────────────── inj0 (injection)
//                    (split_mirror: sw-s's copies go to sw-mir2 ──────────── mir1 instead)
//
// Optionally the mirror port and the injection port are 802.1Q trunks of one VLAN: the mirrored
// copies leave sw-mir tagged, and sw-inj accepts only frames tagged with that VLAN and untags them
// before bridging (tc-BPF programs from bpf/vlan_tag.c; this kernel has no other way to tag).
#pragma once

#include <memory>
#include <string>

#include "process.h"

namespace spanguard::testing {

struct SpanTestbedOptions {
  // Mirror copies carry an 802.1Q tag and injected frames must carry it too (see mirror_vlan()).
  bool tagged_mirror = false;
  // An asymmetric pair: copies of the client's frames leave through mir0 and copies of the
  // server's through a second mirror port, mir1 (what a TAP, or two SPAN sessions, deliver).
  bool split_mirror = false;
};

class SpanTestbed {
 public:
  // Builds the bed; ok() says whether every step worked (tests skip otherwise, with why()).
  explicit SpanTestbed(SpanTestbedOptions options = {});
  ~SpanTestbed() = default;

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }

  const NetNamespace& client() const { return *client_; }
  const NetNamespace& server() const { return *server_; }
  const NetNamespace& sensor() const { return *sensor_; }
  const NetNamespace& sw() const { return *switch_; }
  // The VLAN id on the mirror and injection trunks, 0 when the bed is untagged.
  int mirror_vlan() const { return mirror_vlan_; }

  static constexpr const char* kClientV4 = "198.51.100.1";
  static constexpr const char* kServerV4 = "198.51.100.2";
  static constexpr const char* kClientV6 = "2001:db8::1";
  static constexpr const char* kServerV6 = "2001:db8::2";
  static constexpr const char* kCaptureInterface = "mir0";
  static constexpr const char* kSecondCaptureInterface = "mir1";  // split_mirror only
  static constexpr const char* kInjectInterface = "inj0";
  static constexpr const char* kClientMac = "02:00:00:00:00:01";
  static constexpr const char* kServerMac = "02:00:00:00:00:02";

 private:
  bool step(const std::string& what, int status);
  bool make_trunks();

  std::unique_ptr<NetNamespace> client_, server_, switch_, sensor_;
  bool ok_ = false;
  int mirror_vlan_ = 0;
  std::string why_;
};

}  // namespace spanguard::testing
