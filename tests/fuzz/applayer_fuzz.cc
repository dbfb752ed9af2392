// Fuzzes the application-layer stage as the worker drives it: arbitrary bytes in both directions
// of a flow (possibly picked up mid-stream), cut at fuzzer-chosen points, with gaps and the flow's
// end, through protocol detection, the HTTP parser and the hand-off to detection. Every buffer
// handed over is read whole (AddressSanitizer checks the views point at live bytes); a
// transaction's inspections come in order and nothing is held once the flow has ended.
#include <cstdint>
#include <cstdlib>
#include <map>

#include "spanguard/applayer/app_layer.h"
#include "spanguard/applayer/registry.h"

namespace {

using namespace spanguard;

class Reader : public applayer::TransactionSink {
 public:
  void on_transaction(const applayer::TxInspection& tx) override {
    for (const auto& b : tx.buffers) {
      if (!b) continue;
      for (const char c : *b) sum_ += static_cast<uint8_t>(c);
    }
    // Every inspection names the parsed state of its own protocol only.
    if ((tx.http != nullptr) != (tx.proto == core::AppProto::kHttp)) std::abort();
    if ((tx.tls != nullptr) != (tx.proto == core::AppProto::kTls)) std::abort();
    if ((tx.dns != nullptr) != (tx.proto == core::AppProto::kDns)) std::abort();
    if (tx.proto != core::AppProto::kHttp) return;
    if (tx.http->id != tx.tx_id) std::abort();
    // Transaction ids of one direction's HTTP inspections never go back.
    uint64_t& last = last_[flow::index(tx.dir)];
    if (tx.tx_id + 1 < last) std::abort();
    last = tx.tx_id + 1;
  }
  uint64_t sum_ = 0;
  uint64_t last_[2] = {0, 0};
};

}  // namespace

// Input: a flags byte (bits 1-2: small request / response body limits), then records of
// [control][length][bytes]: control bit 0 the direction, bits 1-2 both set a gap.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  applayer::AppLayerOptions options;
  if (data[0] & 2) options.http.request_body_limit = 8;
  if (data[0] & 4) options.http.response_body_limit = 8;
  Reader reader;
  applayer::AppLayer app(options, applayer::rule_registry(), reader);
  {
    flow::Flow f;
    f.key.family = 4;
    f.key.proto = decode::ip_proto::kTcp;
    uint64_t offset[2] = {0, 0};
    size_t at = 1;
    while (at + 2 <= size) {
      const uint8_t control = data[at];
      const size_t len = std::min<size_t>(data[at + 1], size - at - 2);
      at += 2;
      const auto dir = (control & 1) ? flow::Direction::kToClient : flow::Direction::kToServer;
      if ((control & 6) == 6) {
        app.on_stream_event(f, dir, stream::StreamEvent::kGap);
        offset[flow::index(dir)] += 100;
        continue;
      }
      app.on_stream_data(f, dir, std::span(data + at, len), offset[flow::index(dir)], false);
      offset[flow::index(dir)] += len;
      at += len;
    }
    app.on_flow_end(f);
    // The flow's end completed and released every transaction: what remains is a few bytes of
    // state, which the flow's destruction frees (LeakSanitizer checks).
  }
  return reader.sum_ == UINT64_MAX ? 1 : 0;
}
