// A switch with a mirror port, built from network namespaces: client and server hosts joined by a
// bridge, every frame between them mirrored (tc mirred) to the sensor's capture interface, and a
// separate bridge port for injection. Offloads are off everywhere so the mirror carries real
// frames.
//
//   client ns          switch ns (br0)                    sensor ns
//   c0 ───────────── sw-c ┐                 mirred ──►  sw-mir ───── mir0 (capture)
//   s0 ───────────── sw-s ┤ (both mirrored)
//   (server ns)      sw-inj ┘ (bridge port) ──────────────────────── inj0 (injection)
#pragma once

#include <memory>
#include <string>

#include "process.h"

namespace spanguard::testing {

class SpanTestbed {
 public:
  // Builds the bed; ok() says whether every step worked (tests skip otherwise, with why()).
  SpanTestbed();
  ~SpanTestbed() = default;

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }

  const NetNamespace& client() const { return *client_; }
  const NetNamespace& server() const { return *server_; }
  const NetNamespace& sensor() const { return *sensor_; }
  const NetNamespace& sw() const { return *switch_; }

  static constexpr const char* kClientV4 = "198.51.100.1";
  static constexpr const char* kServerV4 = "198.51.100.2";
  static constexpr const char* kClientV6 = "2001:db8::1";
  static constexpr const char* kServerV6 = "2001:db8::2";
  static constexpr const char* kCaptureInterface = "mir0";
  static constexpr const char* kInjectInterface = "inj0";

 private:
  bool step(const std::string& what, int status);

  std::unique_ptr<NetNamespace> client_, server_, switch_, sensor_;
  bool ok_ = false;
  std::string why_;
};

}  // namespace spanguard::testing
