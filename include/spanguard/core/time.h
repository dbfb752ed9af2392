// Packet time. Everything that expires (flows, fragments, kill watches) runs on packet timestamps,
// so an offline replay behaves as the same traffic would have live.
#pragma once

#include <chrono>
#include <cstdint>

namespace spanguard::core {

using Duration = std::chrono::nanoseconds;
using Timestamp = std::chrono::time_point<std::chrono::system_clock, Duration>;

inline Timestamp timestamp_from_ns(int64_t ns) { return Timestamp(Duration(ns)); }
inline int64_t to_ns(Timestamp t) { return t.time_since_epoch().count(); }
inline double to_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// Monotonic wall clock for measuring our own work (throughput, latency), never for expiry.
inline int64_t monotonic_ns() {
  return std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace spanguard::core
