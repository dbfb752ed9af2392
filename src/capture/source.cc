// libpcap-backed packet sources: capture files (pcap/pcapng) and live interfaces.
#include "spanguard/capture/source.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::capture {

namespace {

constexpr core::Param kParams[] = {
    {.name = "interfaces",
     .type = core::ParamType::kStringList,
     .default_value = "[]",
     .help = "Mirror-port interfaces to capture from (run --interface adds to these)"},
    {.name = "snaplen",
     .type = core::ParamType::kInt,
     .default_value = "262144",
     .help = "Bytes captured per frame; keep >= 65535 so GSO/TSO super-frames from offloading NICs "
             "arrive whole",
     .min = 64,
     .max = 262144},
    {.name = "promiscuous",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Put the capture interface in promiscuous mode"},
    {.name = "immediate",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Deliver each frame as it arrives (libpcap immediate mode); without it frames arrive "
             "tens of milliseconds late and resets lose the race"},
    {.name = "buffer_size",
     .type = core::ParamType::kBytes,
     .default_value = "64MiB",
     .help = "Kernel capture buffer per interface",
     .min = 1 << 20,
     .max = 2147483647},
    {.name = "timeout",
     .type = core::ParamType::kDuration,
     .default_value = "100ms",
     .help = "Longest wait for frames before the capture loop checks for shutdown",
     .min = 0.001,
     .max = 10},
    {.name = "bpf_filter",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Berkeley Packet Filter expression applied in the kernel (empty: every frame)"},
    {.name = "direction",
     .type = core::ParamType::kEnum,
     .default_value = "inout",
     .help = "Which frames of the interface to capture: received (in), sent (out) or both",
     .choices = "in|out|inout"},
    {.name = "busy_poll",
     .type = core::ParamType::kEnum,
     .default_value = "auto",
     .help = "Spin on a non-blocking capture instead of sleeping in poll(): ~2 us instead of "
             "50-500 us from frame to worker, at the cost of one whole core per interface; auto: "
             "on when the sensor sends resets (a reset must win a race of tens of microseconds)",
     .choices = "auto|yes|no"},
    {.name = "fanout",
     .type = core::ParamType::kEnum,
     .default_value = "auto",
     .help = "With several workers, each reads its own share of every interface through an "
             "AF_PACKET fanout group instead of a capture thread handing frames over; auto: fall "
             "back to the capture thread (with a warning) where the kernel refuses",
     .choices = "auto|yes|no"},
    {.name = "fanout_hash",
     .type = core::ParamType::kEnum,
     .default_value = "addresses",
     .help = "What decides a frame's worker: the address pair (FTP data connections stay with "
             "their control connection) or the address pair and ports (better balance for few "
             "busy host pairs; a datagram's fragments go by addresses and the worker that "
             "reassembles it hands it to its flow's; an FTP data connection on another worker "
             "than its control connection is not reset with it)",
     .choices = "addresses|flow"},
};

constexpr core::ParamSection kSection{"capture", "Frame capture (live interfaces)", kParams};

// How far before a fanout member's join a frame's stamp may lie to be taken for a copy every
// socket saw before the group formed, and how long after the join such copies are looked for.
constexpr int64_t kPreJoinWindowNs = 2'000'000'000;

struct DispatchContext {
  FrameSink* sink;
  decode::LinkType link;
  int64_t ns_per_tick;
  const std::string* origin;
  int64_t skip_before_ns = 0;  // frames stamped earlier are not handed over (fanout duplicates)
  int skipped = 0;
};

void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* ctx = reinterpret_cast<DispatchContext*>(user);
  const int64_t ns = static_cast<int64_t>(header->ts.tv_sec) * 1'000'000'000 +
                     static_cast<int64_t>(header->ts.tv_usec) * ctx->ns_per_tick;
  // Only a frame stamped shortly before the join can be a pre-join copy: a stamp far off is not
  // real time at all (a sender's monotonic departure time carried across veth, say) and is kept.
  if (ns < ctx->skip_before_ns && ctx->skip_before_ns - ns < kPreJoinWindowNs) {
    ++ctx->skipped;
    return;
  }
  ctx->sink->on_frame(Frame{bytes, header->caplen, header->len, core::timestamp_from_ns(ns),
                            ctx->link, ctx->origin});
}

std::string dlt_text(int dlt) {
  const char* name = pcap_datalink_val_to_name(dlt);
  return std::to_string(dlt) + (name != nullptr ? std::string(" (") + name + ")" : "");
}

}  // namespace

bool link_type_from_dlt(int dlt, decode::LinkType& out) {
  switch (dlt) {
    case DLT_EN10MB:
      out = decode::LinkType::kEthernet;
      return true;
    case DLT_LINUX_SLL:
      out = decode::LinkType::kLinuxSll;
      return true;
    case DLT_LINUX_SLL2:
      out = decode::LinkType::kLinuxSll2;
      return true;
    case DLT_RAW:
      out = decode::LinkType::kRawIp;
      return true;
#ifdef DLT_IPV4
    case DLT_IPV4:
      out = decode::LinkType::kIpv4;
      return true;
#endif
#ifdef DLT_IPV6
    case DLT_IPV6:
      out = decode::LinkType::kIpv6;
      return true;
#endif
    case DLT_NULL:
    case DLT_LOOP:
      out = decode::LinkType::kNull;
      return true;
    case DLT_PPP:
      out = decode::LinkType::kPpp;
      return true;
    case DLT_PPP_SERIAL:
      out = decode::LinkType::kPppSerial;
      return true;
    case DLT_C_HDLC:
      out = decode::LinkType::kCiscoHdlc;
      return true;
    default:
      return false;
  }
}

const core::ParamSection& capture_params() { return kSection; }

LiveOptions live_options(const core::Config& config, bool sends_resets) {
  LiveOptions o;
  o.snaplen = static_cast<int>(config.get("capture.snaplen").as_int());
  o.promiscuous = config.get("capture.promiscuous").as_bool();
  o.immediate = config.get("capture.immediate").as_bool();
  o.buffer_bytes = config.get("capture.buffer_size").as_bytes();
  o.timeout = config.get("capture.timeout").as_duration();
  o.bpf_filter = config.get("capture.bpf_filter").as_string();
  o.direction = config.get("capture.direction").as_string();
  const std::string& busy = config.get("capture.busy_poll").as_string();
  o.busy_poll = busy == "yes" || (busy == "auto" && sends_resets);
  o.fanout = config.get("capture.fanout").as_string();
  o.fanout_hash = config.get("capture.fanout_hash").as_string();
  return o;
}

// ---- FileSource ----

namespace {

// Bytes read from a capture file per read(2): libpcap reads each record with two freads, and
// stdio's default buffer (the file system's block, 4 KiB) made a 260 MB replay 66,000 system
// calls.
constexpr size_t kFileBuffer = 1 << 20;

PcapHandle open_file(const std::string& path, decode::LinkType& link) {
  char err[PCAP_ERRBUF_SIZE] = "";
  PcapHandle handle;
  if (path == "-") {  // standard input, as libpcap reads it
    handle.reset(
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err));
  } else if (FILE* file = std::fopen(path.c_str(), "rb")) {
    std::setvbuf(file, nullptr, _IOFBF, kFileBuffer);
    // The handle owns the file from here (pcap_close closes it), also when this fails.
    handle.reset(pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, err));
    if (!handle) std::fclose(file);
  } else {
    std::snprintf(err, sizeof err, "%s", std::strerror(errno));
  }
  if (!handle) throw core::RuntimeError(path + ": cannot read capture: " + err);
  const int dlt = pcap_datalink(handle.get());
  if (!link_type_from_dlt(dlt, link)) {
    throw core::RuntimeError(path + ": link type " + dlt_text(dlt) +
                             " is not supported (Ethernet, Linux cooked SLL/SLL2, raw IP, "
                             "null/loopback, PPP, PPP serial, Cisco HDLC are)");
  }
  return handle;
}

}  // namespace

FileSource::FileSource(std::vector<std::string> paths) : paths_(std::move(paths)) {
  if (paths_.empty()) throw core::ConfigError("no capture file given");
  for (const std::string& path : paths_) {
    decode::LinkType link;
    open_file(path, link);  // validate every file before replaying any
  }
}

bool FileSource::open_next() {
  handle_.reset();
  if (next_file_ >= paths_.size()) return false;
  const std::string& path = paths_[next_file_++];
  handle_ = open_file(path, link_);
  core::logger("capture")->debug("replaying {}", path);
  return true;
}

int FileSource::dispatch(int max_frames, FrameSink& sink) {
  for (;;) {
    if (stopped_.load(std::memory_order_relaxed)) return -1;
    if (!handle_ && !open_next()) return -1;
    DispatchContext ctx{&sink, link_, 1, &paths_[next_file_ - 1]};
    const int n =
        pcap_dispatch(handle_.get(), max_frames, on_packet, reinterpret_cast<u_char*>(&ctx));
    if (n > 0) {
      stats_.received += static_cast<uint64_t>(n);
      return n;
    }
    if (n == PCAP_ERROR_BREAK) return -1;
    if (n == PCAP_ERROR) {
      // A truncated or corrupt record: what was read before it stands; libpcap cannot find the
      // next record's start, so the rest of the file is skipped.
      ++stats_.read_errors;
      const long offset =
          pcap_file(handle_.get()) != nullptr ? std::ftell(pcap_file(handle_.get())) : -1L;
      core::logger("capture")->warn(
          "{}: read error near byte {}: {}; the rest of this file is skipped",
          paths_[next_file_ - 1], offset, pcap_geterr(handle_.get()));
    }
    handle_.reset();  // end of this file (n == 0) or an error: go on with the next one
  }
}

void FileSource::stop() {
  stopped_.store(true);
  if (handle_) pcap_breakloop(handle_.get());
}

std::string FileSource::name() const {
  return paths_.size() == 1 ? paths_.front() : std::to_string(paths_.size()) + " files";
}

// ---- LiveSource ----

LiveSource::LiveSource(std::string interface, const LiveOptions& options)
    : interface_(std::move(interface)), busy_poll_(options.busy_poll) {
  const std::string what = "interface '" + interface_ + "'";
  char err[PCAP_ERRBUF_SIZE] = "";
  handle_.reset(pcap_create(interface_.c_str(), err));
  if (!handle_) throw core::RuntimeError(what + ": " + err);
  pcap_t* p = handle_.get();
  pcap_set_snaplen(p, options.snaplen);
  pcap_set_promisc(p, options.promiscuous ? 1 : 0);
  pcap_set_immediate_mode(p, options.immediate ? 1 : 0);
  pcap_set_buffer_size(p, static_cast<int>(options.buffer_bytes));
  pcap_set_timeout(
      p, static_cast<int>(
             std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout).count()));
  const bool nano = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;

  const int rc = pcap_activate(p);
  if (rc < 0) {
    std::string why;
    switch (rc) {
      case PCAP_ERROR_NO_SUCH_DEVICE:
        why = "no such interface";
        break;
      case PCAP_ERROR_PERM_DENIED:
        why = "permission denied (capturing needs root or CAP_NET_RAW)";
        break;
      case PCAP_ERROR_IFACE_NOT_UP:
        why = "interface is down";
        break;
      default:
        why = pcap_geterr(p);
        break;
    }
    throw core::RuntimeError(what + ": " + why);
  }
  if (rc > 0) core::logger("capture")->warn("{}: {}", what, pcap_geterr(p));
  ns_per_tick_ = nano && pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;

  const int dlt = pcap_datalink(p);
  if (!link_type_from_dlt(dlt, link_)) {
    throw core::RuntimeError(what + ": link type " + dlt_text(dlt) + " is not supported");
  }
  const pcap_direction_t direction = options.direction == "in"    ? PCAP_D_IN
                                     : options.direction == "out" ? PCAP_D_OUT
                                                                  : PCAP_D_INOUT;
  if (direction != PCAP_D_INOUT && pcap_setdirection(p, direction) != 0) {
    throw core::RuntimeError(what + ": cannot restrict capture direction: " + pcap_geterr(p));
  }
  if (!options.bpf_filter.empty()) {
    bpf_program program{};
    if (pcap_compile(p, &program, options.bpf_filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      throw core::ConfigError("capture.bpf_filter: '" + options.bpf_filter +
                              "': " + pcap_geterr(p));
    }
    const int set = pcap_setfilter(p, &program);
    pcap_freecode(&program);
    if (set != 0) throw core::RuntimeError(what + ": cannot set filter: " + pcap_geterr(p));
  }
  if ((busy_poll_ || options.nonblocking) && pcap_setnonblock(p, 1, err) != 0) {
    throw core::RuntimeError(what + ": cannot enter non-blocking mode: " + err);
  }
  core::logger("capture")->info("capturing on {} (snaplen {}, immediate {}, {})", interface_,
                                options.snaplen, options.immediate,
                                busy_poll_ ? "busy-poll" : "blocking");
}

int LiveSource::dispatch(int max_frames, FrameSink& sink) {
  // Pre-join copies are all queued by the time the group formed: the first seconds after the
  // join drain them, and then no frame is ever skipped.
  if (skip_before_ns_ != 0 && core::monotonic_ns() - joined_at_ns_ > kPreJoinWindowNs) {
    skip_before_ns_ = 0;
  }
  DispatchContext ctx{&sink, link_, ns_per_tick_, &interface_, skip_before_ns_};
  if (stopped_.load(std::memory_order_relaxed)) {
    // Stopping: what the kernel already captured is still inspected (an operator's SIGTERM must
    // not lose the frames that arrived before it), then the source ends.
    if (drained_) return -1;
    drained_ = true;
    char err[PCAP_ERRBUF_SIZE];
    pcap_setnonblock(handle_.get(), 1, err);
    int total = 0;
    int breaks = 0;
    for (int calls = 0; calls < 4096; ++calls) {  // bounded: a busy link never runs dry
      int n = pcap_dispatch(handle_.get(), max_frames, on_packet, reinterpret_cast<u_char*>(&ctx));
      if (n == PCAP_ERROR_BREAK && breaks++ == 0) continue;  // stop()'s own pcap_breakloop
      if (n <= 0) break;
      n -= std::exchange(ctx.skipped, 0);
      total += n;
      delivered_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    return total > 0 ? total : -1;
  }
  const int n =
      pcap_dispatch(handle_.get(), max_frames, on_packet, reinterpret_cast<u_char*>(&ctx));
  if (n >= 0) {
    const int handed = n - ctx.skipped;
    delivered_.fetch_add(static_cast<uint64_t>(handed), std::memory_order_relaxed);
    return handed;
  }
  if (n == PCAP_ERROR_BREAK || stopped_.load(std::memory_order_relaxed)) return -1;
  throw core::RuntimeError("interface '" + interface_ +
                           "': capture failed: " + pcap_geterr(handle_.get()));
}

void LiveSource::stop() {
  stopped_.store(true);
  // A blocking immediate-mode dispatch may never return on its own timeout: break it.
  pcap_breakloop(handle_.get());
}

SourceStats LiveSource::stats() {
  SourceStats s;
  s.received = delivered_;
  pcap_stat ps{};
  if (pcap_stats(handle_.get(), &ps) == 0) {
    s.kernel_dropped = ps.ps_drop;
    s.interface_dropped = ps.ps_ifdrop;
  }
  return s;
}

}  // namespace spanguard::capture
