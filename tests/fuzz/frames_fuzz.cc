// Fuzzes what a peer of the alert stream controls: the length-delimited frames (a collector's acks,
// a sensor's events) cut at arbitrary points, the timestamps of the heartbeats a collector turns
// into stats events, and stream URLs from configuration.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spanguard/core/error.h"
#include "spanguard/output/envelope.h"
#include "spanguard/output/framing.h"
#include "spanguard/output/stream_url.h"
#include "spanguard/v1/spanguard.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The first byte chooses the chunk size, so that frames straddle reads in every way.
  const size_t chunk = size > 0 ? 1 + data[0] % 64 : 1;
  spanguard::output::FrameReader reader(4096);
  spanguard::v1::Envelope message;
  for (size_t at = size > 0 ? 1 : 0; at < size; at += chunk) {
    reader.append(bytes.substr(at, chunk));
    for (;;) {
      const auto r = reader.next(message);
      if (r != spanguard::output::FrameReader::Result::kFrame) break;
      if (message.has_heartbeat()) {
        (void)spanguard::output::eve_timestamp_seconds(message.heartbeat().timestamp());
      }
    }
  }
  (void)spanguard::output::eve_timestamp_seconds(bytes);
  try {
    (void)spanguard::output::parse_stream_url(bytes, "output.socket.connect",
                                              spanguard::output::UrlUse::kConnect);
  } catch (const spanguard::core::Error&) {
  }
  return 0;
}
