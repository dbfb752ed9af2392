// The application-layer stage: identifies each flow's protocol from the first bytes of its
// directions (ports play no part), runs that protocol's parser over the reassembled stream (or
// each datagram), and hands every transaction to detection at the points where its buffers are
// complete: an HTTP message's line and headers, then the whole message with its body; a TLS
// ClientHello, ServerHello and certificate chain; a DNS query or response.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/http.h"
#include "spanguard/applayer/side.h"
#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/decode/packet_view.h"
#include "spanguard/flow/flow.h"
#include "spanguard/rules/registry.h"
#include "spanguard/stream/reassembler.h"

namespace spanguard::applayer {

namespace tls {
struct Session;
}
namespace dns {
class Message;
}
namespace ssh {
struct Session;
}
namespace smtp {
struct Transaction;
}
namespace ftp {
struct Transaction;
}

// What becomes of a flow once its payload is encrypted (TLS application data, SSH after NEWKEYS):
// Suricata's encryption-handling. kBypass: neither reassembled nor inspected any more (TCP state
// is still tracked, so resets stay exact); kTrackOnly: the parser has finished, the raw stream is
// no longer inspected; kFull: the raw stream is still inspected by stream rules.
enum class EncryptionHandling : uint8_t { kBypass, kTrackOnly, kFull };

struct AppLayerOptions {
  bool enabled = true;
  uint32_t probe_depth = 4096;  // bytes per direction after which detection gives up
  EncryptionHandling encryption = EncryptionHandling::kBypass;
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
  // Numbers keywords compare (tls.version, dns.opcode, ...) by rules::AppFact; nullopt where the
  // message states no such thing.
  std::span<const std::optional<uint32_t>> facts;
  // The parsed protocol state the inspection comes from (one of them), for alert records.
  const http::Transaction* http = nullptr;
  const tls::Session* tls = nullptr;
  const dns::Message* dns = nullptr;
  const ssh::Session* ssh = nullptr;
  const smtp::Transaction* smtp = nullptr;
  const ftp::Transaction* ftp = nullptr;
};

class TransactionSink {
 public:
  virtual ~TransactionSink() = default;
  virtual void on_transaction(const TxInspection& tx) = 0;
  // An FTP data connection was recognised and linked to its control session
  // (data.parent_flow_id), on its first payload.
  virtual void on_data_flow(flow::Flow& /*data*/) {}
  // A unit Suricata logs on its own is complete: a TLS handshake (or the flow ended before it
  // did), a DNS message. (HTTP transactions are logged from their inspection with tx_done.)
  virtual void on_record(const TxInspection& /*tx*/) {}
};

enum class AppCounter : uint16_t {
  kFlowsHttp,
  kFlowsTls,
  kFlowsDns,
  kFlowsFtp,
  kFlowsFtpData,
  kFlowsSsh,
  kFlowsSmtp,
  kFlowsSmb,
  kFlowsDcerpc,
  kFlowsFailed,
  kProbeRetries,
  kParsersReleased,
  kFlowsBypassed,
  kFlowsEncrypted,
  kCount
};

// FTP data connections announced by control sessions (PORT/EPRT, PASV/EPSV answers): the endpoint
// a data connection will be opened to, until it is or the expectation expires. Each application
// layer has its own; workers share one when a data connection may reach another worker than its
// control connection (fanout by addresses and ports). Thread-safe.
class DataExpectations {
 public:
  struct Expectation {
    core::IpAddress address;  // the data connection's responder (EPSV: the control's server)
    uint16_t port = 0;
    uint64_t parent_flow_id = 0;
    core::Timestamp expires{};
    core::FtpDataCommand command = core::FtpDataCommand::kOther;  // once the transfer command came
  };
  static constexpr size_t kMax = 1024;  // the oldest go first

  // Adds one, or updates the one of the same control connection and endpoint (the transfer
  // command announces it again, with its purpose); expired ones go first, then the oldest.
  void expect(const Expectation& x, core::Timestamp now);
  // The expectation of `responder`:`port`, removed; nullopt when there is none or it had expired
  // at `opened`.
  std::optional<Expectation> fulfil(const core::IpAddress& responder, uint16_t port,
                                    core::Timestamp opened);
  // Without locking: whether a new flow need be looked up at all.
  bool empty() const { return size_.load(std::memory_order_relaxed) == 0; }

 private:
  std::mutex mutex_;
  std::vector<Expectation> list_;
  std::atomic<size_t> size_{0};
};

class AppLayer final : public stream::StreamConsumer {
 public:
  // `registry` is the one rules were parsed with (ids of the buffers handed to `sink`).
  AppLayer(const AppLayerOptions& options, const rules::Registry& registry, TransactionSink& sink);
  ~AppLayer() override;

  // Parses the bytes of a flow whose protocol is known (identifying it first, if the identifier
  // below has not seen these bytes yet).
  void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                      uint64_t offset, bool after_gap) override;
  void on_stream_event(flow::Flow& flow, flow::Direction dir, stream::StreamEvent event) override;
  // A consumer that only identifies protocols: placed before stream detection so that rules
  // restricted to a protocol (`alert tls ... content:...`) see it on the bytes that reveal it,
  // while the parsing (this object's own on_stream_data) may come after detection.
  stream::StreamConsumer& identifier() { return identifier_; }
  // Per-packet hook for datagram protocols (UDP flows): DNS messages are identified and parsed
  // here. Call it before packet detection: `alert dns` rules need the protocol.
  void on_packet(const decode::PacketView& packet, flow::Flow* flow, flow::Direction dir);
  // The flow ends: open messages are completed (a body delimited by the close ends here).
  void on_flow_end(flow::Flow& flow);

  // What to parse changed (a rule reload): what is parsed from now on follows the new options.
  void update_options(const AppLayerOptions& options);
  // FTP data connections are looked up in (and announced to) `shared`, which outlives this, from
  // now on; null: this application layer's own table again.
  void share_expectations(DataExpectations* shared);

  void collect(core::CounterSnapshot& out) const;
  const core::Counters<AppCounter>& counters() const;
  static const core::CounterGroup& counter_group();

  class FlowState;  // per flow, in the flow's "applayer" slot
  struct Context;   // what protocol sessions share (src/applayer/session.h)

 private:
  class Identifier final : public stream::StreamConsumer {
   public:
    explicit Identifier(AppLayer& owner) : owner_(owner) {}
    void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                        uint64_t offset, bool) override {
      owner_.identify(flow, dir, data, offset);
    }
    void on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) override {}

   private:
    AppLayer& owner_;
  };

  // Probes a delivery not probed before; on success the flow's protocol is set and its session
  // created, holding what earlier deliveries showed until the parsing pass gets to it.
  void identify(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                uint64_t offset);
  void start_session(flow::Flow& flow, FlowState& state, core::AppProto proto,
                     flow::Direction client_dir);
  // The session parsed all it will (encrypted, a tunnel, or done): released, the flow bypassed
  // when its payload is encrypted and encryption_handling says so.
  void after_parse(flow::Flow& flow, FlowState& state);
  void feed(flow::Flow& flow, FlowState& state, Side side, std::span<const uint8_t> data);

  AppLayerOptions options_;
  std::unique_ptr<Context> context_;
  Identifier identifier_{*this};
};

}  // namespace spanguard::applayer
