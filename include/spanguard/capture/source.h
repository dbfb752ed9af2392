// Packet sources: capture files replayed in order, or a live interface through libpcap. A source
// hands frames to a FrameSink by reference; the bytes are valid only during the call.
#pragma once

#include <linux/filter.h>
#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/core/time.h"
#include "spanguard/decode/packet_view.h"

namespace spanguard::capture {

struct Frame {
  const uint8_t* data;
  uint32_t caplen;
  uint32_t wirelen;
  core::Timestamp ts;
  decode::LinkType link;
  // The capture file or interface the frame came from (EVE's pcap_filename / in_iface); owned by
  // its source, which outlives the run. Null when unknown.
  const std::string* origin = nullptr;
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void on_frame(const Frame& frame) = 0;
};

struct SourceStats {
  uint64_t received = 0;           // frames handed to the sink
  uint64_t kernel_dropped = 0;     // pcap_stats ps_drop: the capture buffer was full
  uint64_t interface_dropped = 0;  // pcap_stats ps_ifdrop: dropped by the interface/driver
  uint64_t read_errors = 0;        // capture files abandoned after a read error
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  // Hands up to `max_frames` frames to `sink`. Returns the number delivered (0: nothing ready yet),
  // or -1 once the source is exhausted (end of the last file) or was stopped.
  virtual int dispatch(int max_frames, FrameSink& sink) = 0;
  // Makes a blocked or future dispatch() return -1; safe from another thread or a signal handler.
  virtual void stop() = 0;
  virtual SourceStats stats() = 0;
  virtual std::string name() const = 0;
};

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

// Maps a libpcap data-link type onto the decoder's; false when we cannot decode it.
bool link_type_from_dlt(int dlt, decode::LinkType& out);

// Capture files (pcap or pcapng, any timestamp precision), replayed one after the other.
// Every file is opened once up front so that a missing or garbage file fails before any work is
// done.
class FileSource final : public PacketSource {
 public:
  explicit FileSource(std::vector<std::string> paths);  // throws core::RuntimeError "path: reason"
  int dispatch(int max_frames, FrameSink& sink) override;
  void stop() override;
  SourceStats stats() override { return stats_; }
  std::string name() const override;

 private:
  bool open_next();

  std::vector<std::string> paths_;
  size_t next_file_ = 0;
  PcapHandle handle_;
  decode::LinkType link_ = decode::LinkType::kEthernet;
  SourceStats stats_;
  std::atomic<bool> stopped_{false};
};

struct LiveOptions {
  int snaplen = 262144;
  bool promiscuous = true;
  bool immediate = true;
  uint64_t buffer_bytes = 64 << 20;
  core::Duration timeout = std::chrono::milliseconds(100);
  std::string bpf_filter;
  std::string direction = "inout";  // in | out | inout
  bool busy_poll = false;           // non-blocking dispatch spun by the caller
  bool nonblocking = false;         // dispatch never waits (the caller polls); implied by busy_poll
  std::string fanout = "auto";      // auto | yes | no: capture.fanout
  std::string fanout_hash = "addresses";  // addresses | flow: capture.fanout_hash
};

// The "capture" configuration section and the live options it yields; `sends_resets` resolves
// capture.busy_poll: auto.
const core::ParamSection& capture_params();
LiveOptions live_options(const core::Config& config, bool sends_resets = false);

// A live interface. Immediate mode is on by default: without it TPACKET_V3 hands frames over tens
// of milliseconds late, and a reset sent that late loses every race against the server's reply.
class LiveSource final : public PacketSource {
 public:
  LiveSource(std::string interface, const LiveOptions& options);  // throws on any set-up failure
  int dispatch(int max_frames, FrameSink& sink) override;
  void stop() override;
  SourceStats stats() override;
  std::string name() const override { return interface_; }
  bool busy_poll() const { return busy_poll_; }
  // The descriptor to poll() for readable frames (non-blocking sources only).
  int wait_fd() const;
  // Joins this socket to an AF_PACKET fanout group; see fanout.h.
  void join_fanout(uint16_t& group_id, bool create, const std::vector<sock_filter>& program);

 private:
  std::string interface_;
  PcapHandle handle_;
  decode::LinkType link_ = decode::LinkType::kEthernet;
  bool busy_poll_ = false;
  int64_t ns_per_tick_ = 1;  // 1 with nanosecond timestamps, 1000 where only microseconds exist
  std::atomic<uint64_t> delivered_{0};
  std::atomic<bool> stopped_{false};
  bool drained_ = false;  // after stop(): the kernel buffer has been read once more
  // Frames stamped before this socket joined its fanout group reached every member not yet
  // joined: only the group's first member keeps them.
  int64_t skip_before_ns_ = 0;
  int64_t joined_at_ns_ = 0;  // core::monotonic_ns() at the join
};

}  // namespace spanguard::capture
