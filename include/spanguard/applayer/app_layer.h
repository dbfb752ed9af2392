// The application-layer stage: identifies each flow's protocol from the first bytes of its
// directions (ports play no part), runs that protocol's parser over the reassembled stream, and
// hands every transaction to detection at the points where its buffers are complete: a message's
// line and headers, then the whole message with its body.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/http.h"
#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/decode/packet_view.h"
#include "spanguard/flow/flow.h"
#include "spanguard/rules/registry.h"
#include "spanguard/stream/reassembler.h"

namespace spanguard::applayer {

struct AppLayerOptions {
  bool enabled = true;
  uint32_t probe_depth = 4096;  // bytes per direction after which detection gives up
  http::Limits http;
  // What consumers need, set by whoever wires the stage (not configuration): without transaction
  // rules or transaction records only the protocol is identified; bodies are kept only when a
  // rule inspects them; the whole message as payload only when a rule has unbuffered contents.
  bool parse = true;
  bool request_bodies = true;
  bool response_bodies = true;
  bool payload = true;
};
const core::ParamSection& applayer_params();
AppLayerOptions applayer_options(const core::Config& config);

// One inspection of one transaction.
struct TxInspection {
  flow::Flow* flow = nullptr;
  flow::Direction dir = flow::Direction::kToServer;          // of the message inspected
  flow::Direction request_dir = flow::Direction::kToServer;  // the direction requests travel
  core::AppProto proto = core::AppProto::kNone;
  uint64_t tx_id = 0;
  bool complete = false;           // the message is complete, body included: body buffers are final
  bool headers_inspected = false;  // an earlier inspection saw this message's line and headers
  bool body_inspected = false;     // ... and its body, final at the body limit: nothing is new
  bool tx_done = false;            // nothing of this transaction will be inspected again
  // Buffer contents by rules::BufferId; nullopt where the transaction has no such buffer. The
  // payload buffer (id 0) is the message: its line, headers and (once complete) body.
  std::span<const std::optional<std::string_view>> buffers;
  const http::Transaction* http = nullptr;  // the parsed transaction (HTTP)
};

class TransactionSink {
 public:
  virtual ~TransactionSink() = default;
  virtual void on_transaction(const TxInspection& tx) = 0;
};

enum class AppCounter : uint16_t {
  kFlowsHttp,
  kFlowsFailed,
  kProbeRetries,
  kParsersReleased,
  kCount
};

class AppLayer final : public stream::StreamConsumer {
 public:
  // `registry` is the one rules were parsed with (ids of the buffers handed to `sink`).
  AppLayer(const AppLayerOptions& options, const rules::Registry& registry, TransactionSink& sink);
  ~AppLayer() override;

  void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                      uint64_t offset, bool after_gap) override;
  void on_stream_event(flow::Flow& flow, flow::Direction dir, stream::StreamEvent event) override;
  // Per-packet hook for datagram protocols (UDP flows): parsers registered for UDP see each
  // payload here. No UDP parser is registered yet (DNS will be the first).
  void on_packet(const decode::PacketView& packet, flow::Flow* flow, flow::Direction dir);
  // The flow ends: open messages are completed (a body delimited by the close ends here).
  void on_flow_end(flow::Flow& flow);

  void collect(core::CounterSnapshot& out) const;
  const core::Counters<AppCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();

  class FlowState;  // per flow, in the flow's "applayer" slot

 private:
  friend class FlowState;
  void detect_protocol(flow::Flow& flow, FlowState& state, flow::Direction dir,
                       std::span<const uint8_t> data);
  void inspect(FlowState& state, http::Transaction& tx, http::Side side, http::Event event);
  http::Parser& parser(FlowState& state);
  void release_if_idle(FlowState& state);

  AppLayerOptions options_;
  TransactionSink& sink_;
  std::vector<std::optional<std::string_view>> buffers_;  // by BufferId, reused per inspection
  std::vector<std::pair<rules::BufferId, http::BufferField>> http_map_;
  rules::BufferId file_data_ = rules::Registry::kNoBuffer;
  std::string payload_;  // the message as sent (line, headers, body so far): the payload buffer
  core::Counters<AppCounter> counters_;
  core::Counters<http::HttpCounter> http_counters_;
};

}  // namespace spanguard::applayer
