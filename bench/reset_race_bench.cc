// The reset race on a real SPAN test bed: a server answers the trigger at once with a large burst
// while `spanguard run` must reset both ends, ideally before the burst reaches the client. Reports
// kill rate per side, reply leakage, trigger-to-send latency (the sensor's own, and from the
// trigger on the mirror to each RST on the wire, by kernel timestamps) and whether reported
// outcomes were true. Usage (root): reset_race_bench [--trials N] [--burst BYTES] [--ipv6]
// [--tagged] [--no-wire-tap] [--workers N|default (0: one per core; default: what `run` picks)]
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "process.h"
#include "reset_harness.h"
#include "span_testbed.h"
#include "tcp_peers.h"

namespace {

using namespace spanguard::testing;
using namespace std::chrono_literals;

constexpr int kServicePort = 8080;
constexpr const char* kRule =
    "reject tcp any any -> any 8080 (msg:\"blocked request\"; content:\"EVIL-TRIGGER\"; "
    "sid:1000001; rev:1;)";
constexpr std::string_view kTriggerContent = "EVIL-TRIGGER";
constexpr std::string_view kTrigger = "GET /?q=EVIL-TRIGGER HTTP/1.0\r\nHost: bench\r\n\r\n";
// A socket counts as reset when it fails within this long after the trigger: the default kill
// watch (500 ms) and a margin. Longer waits only make a run with unkilled ends slower.
constexpr auto kResetLimit = 600ms;
// A variant stops early when none of its first trials reset anything: the sensor is not resetting.
constexpr int kProbeTrials = 10;

struct Options {
  int trials = 200;
  size_t burst = 64 * 1024;
  bool ipv6 = false;
  bool tagged = false;
  bool verbose = false;  // list the trials that did not go perfectly
  bool wire_tap = true;  // time the RSTs on the wire (off: to compare a run without the taps)
  // How the second variant turns the kill watch's answers off.
  std::string no_watch = "respond.follow_ups=false";
  int workers = -1;  // -1: run's own default; 0: one per core
};

struct Variant {
  std::string name;
  std::vector<std::string> sets;
  std::chrono::milliseconds kill_watch;
};

// ---- The reset on the wire ----
//
// The sensor's own figure ends when sendto() returns, and on veth that includes the delivery
// through the switch to the server, which the kernel runs inside the call after the frame has
// passed the transmit tap; the target is stated from the trigger's arrival on the mirror to the RST
// on the wire. Two packet taps in the sensor's namespace give both ends as kernel timestamps
// (CLOCK_REALTIME, so only differences of them are used):
// - mir0: TCP segments reach it still carrying their sender's departure time (EDT, kept across
//   veth and namespaces), which the kernel replaces with the real time when a tap takes the frame.
//   This tap is opened before the sensor, so the sensor's capture socket is ahead of it in mir0's
//   tap list (the kernel adds taps at the head) and never waits for it. The price: the stamp comes
//   about 1 us after the sensor's own capture timestamp (measured on this bed against its EVE
//   alert times), so these figures run about 1 us short of one taken from the sensor's stamp.
// - inj0: outgoing frames are stamped in the transmit tap, just before veth takes them, which is as
//   close to "on the wire" as software gets.
// The taps only read: a kernel filter queues nothing but RSTs and requests (so the mirrored reply
// bursts cost one filter run per frame), and they are drained by the bench's own thread between
// trials, never during one: on a two-core host a reader woken by the trigger would compete with the
// server for the core the sensor does not spin on.

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;  // 802.1Q
constexpr uint16_t kEtherQinQ = 0x88a8;  // 802.1ad
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpPsh = 0x08;
// Two tags, an IPv6 header, TCP with options and the start of the request fit well within this.
constexpr uint32_t kTapSnap = 256;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

struct TcpFrame {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t flags = 0;
  std::string_view payload;  // as much of it as the tap kept
};

// Ethernet, up to two 802.1Q/802.1ad tags, IPv4 or IPv6 (no extension headers: the bed's peers
// send none), TCP; nullopt for anything else or anything cut short. Tags: the sensor writes them
// into the frames it injects on the tagged bed, while on receive the kernel takes the outer one
// out of the frame before the taps see it, so both tagged and untagged frames come here.
std::optional<TcpFrame> parse_tcp(std::span<const uint8_t> f) {
  size_t at = 14;
  if (f.size() < at) return std::nullopt;
  uint16_t type = be16(&f[12]);
  for (int tags = 0; tags < 2 && (type == kEtherVlan || type == kEtherQinQ); ++tags) {
    if (f.size() < at + 4) return std::nullopt;
    type = be16(&f[at + 2]);
    at += 4;
  }
  size_t tcp = 0;
  size_t end = 0;  // of the IP packet: Ethernet padding may follow
  if (type == kEtherIpv4) {
    if (f.size() < at + 20 || f[at] >> 4 != 4) return std::nullopt;
    const size_t header = (f[at] & 0x0fu) * 4u;
    // A later fragment has no TCP header.
    if (header < 20 || f[at + 9] != kIpProtoTcp || (be16(&f[at + 6]) & 0x1fff) != 0) {
      return std::nullopt;
    }
    tcp = at + header;
    end = at + be16(&f[at + 2]);
  } else if (type == kEtherIpv6) {
    if (f.size() < at + 40 || f[at + 6] != kIpProtoTcp) return std::nullopt;
    tcp = at + 40;
    end = tcp + be16(&f[at + 4]);
  } else {
    return std::nullopt;
  }
  end = std::min(end, f.size());  // the tap keeps kTapSnap bytes
  if (end < tcp + 20) return std::nullopt;
  const size_t header = (f[tcp + 12] >> 4) * 4u;
  if (header < 20 || end < tcp + header) return std::nullopt;
  TcpFrame t;
  t.src_port = be16(&f[tcp]);
  t.dst_port = be16(&f[tcp + 2]);
  t.flags = f[tcp + 13];
  t.payload =
      std::string_view(reinterpret_cast<const char*>(f.data() + tcp + header), end - tcp - header);
  return t;
}

// The taps' kernel filter, the header walk of parse_tcp in classic BPF: accepts (cut to kTapSnap)
// TCP frames that are RSTs or carry PSH toward the service port, which covers the trigger and
// every reset but none of the reply burst or the pure ACKs. Jumps name their targets, resolved at
// the end.
std::vector<sock_filter> tap_filter() {
  enum Label { kNext, kOneTag, kTwoTags, kNetwork, kIpv6, kTcp, kAccept, kReject, kLabels };
  std::vector<sock_filter> code;
  std::array<size_t, kLabels> at{};
  struct Jump {
    size_t insn;
    Label yes, no;  // for BPF_JA, `yes` only
  };
  std::vector<Jump> jumps;
  auto op = [&](uint16_t c, uint32_t k) { code.push_back({c, 0, 0, k}); };
  auto jump = [&](uint16_t c, uint32_t k, Label yes, Label no) {
    jumps.push_back({code.size(), yes, no});
    op(BPF_JMP | c | BPF_K, k);
  };
  auto go = [&](Label to) { jump(BPF_JA, 0, to, kNext); };
  auto here = [&](Label l) { at[l] = code.size(); };

  op(BPF_LD | BPF_H | BPF_ABS, 12);
  jump(BPF_JEQ, kEtherVlan, kOneTag, kNext);
  jump(BPF_JEQ, kEtherQinQ, kOneTag, kNext);
  op(BPF_LDX | BPF_W | BPF_IMM, 14);
  go(kNetwork);
  here(kOneTag);
  op(BPF_LD | BPF_H | BPF_ABS, 16);
  jump(BPF_JEQ, kEtherVlan, kTwoTags, kNext);
  jump(BPF_JEQ, kEtherQinQ, kTwoTags, kNext);
  op(BPF_LDX | BPF_W | BPF_IMM, 18);
  go(kNetwork);
  here(kTwoTags);
  op(BPF_LD | BPF_H | BPF_ABS, 20);
  op(BPF_LDX | BPF_W | BPF_IMM, 22);
  here(kNetwork);  // A: the EtherType, X: where the IP header starts
  jump(BPF_JEQ, kEtherIpv6, kIpv6, kNext);
  jump(BPF_JEQ, kEtherIpv4, kNext, kReject);
  op(BPF_LD | BPF_B | BPF_IND, 9);
  jump(BPF_JEQ, kIpProtoTcp, kNext, kReject);
  op(BPF_LD | BPF_H | BPF_IND, 6);
  jump(BPF_JSET, 0x1fff, kReject, kNext);
  op(BPF_LD | BPF_B | BPF_IND, 0);
  op(BPF_ALU | BPF_AND | BPF_K, 0x0f);
  op(BPF_ALU | BPF_LSH | BPF_K, 2);
  op(BPF_ALU | BPF_ADD | BPF_X, 0);
  op(BPF_MISC | BPF_TAX, 0);
  go(kTcp);
  here(kIpv6);
  op(BPF_LD | BPF_B | BPF_IND, 6);
  jump(BPF_JEQ, kIpProtoTcp, kNext, kReject);
  op(BPF_MISC | BPF_TXA, 0);
  op(BPF_ALU | BPF_ADD | BPF_K, 40);
  op(BPF_MISC | BPF_TAX, 0);
  here(kTcp);  // X: where the TCP header starts
  op(BPF_LD | BPF_B | BPF_IND, 13);
  jump(BPF_JSET, kTcpRst, kAccept, kNext);
  jump(BPF_JSET, kTcpPsh, kNext, kReject);
  op(BPF_LD | BPF_H | BPF_IND, 2);
  jump(BPF_JEQ, kServicePort, kAccept, kReject);
  here(kAccept);
  op(BPF_RET | BPF_K, kTapSnap);
  here(kReject);
  op(BPF_RET | BPF_K, 0);

  // Every jump is forward and the program is short, so the offsets fit their 8-bit fields.
  auto offset = [&](size_t from, Label to) { return to == kNext ? 0 : at[to] - (from + 1); };
  for (const Jump& j : jumps) {
    sock_filter& insn = code[j.insn];
    if (BPF_OP(insn.code) == BPF_JA) {
      insn.k = static_cast<uint32_t>(offset(j.insn, j.yes));
    } else {
      insn.jt = static_cast<uint8_t>(offset(j.insn, j.yes));
      insn.jf = static_cast<uint8_t>(offset(j.insn, j.no));
    }
  }
  return code;
}

// What the taps saw of one trial's connection, keyed by the client's port.
struct WireEvent {
  enum Kind { kTrigger, kRstToServer, kRstToClient } kind;
  uint16_t client_port;
  int64_t ns;  // the kernel's timestamp
};

class WireTap {
 public:
  explicit WireTap(const SpanTestbed& bed) {
    const bool entered = run_in_namespace(bed.sensor(), [&] {
      mirror_ = open(SpanTestbed::kCaptureInterface);
      if (mirror_ >= 0) inject_ = open(SpanTestbed::kInjectInterface);
    });
    if (!entered) why_ = "cannot enter the sensor's namespace";
  }
  ~WireTap() {
    if (mirror_ >= 0) close(mirror_);
    if (inject_ >= 0) close(inject_);
  }
  WireTap(const WireTap&) = delete;
  WireTap& operator=(const WireTap&) = delete;

  bool ok() const { return mirror_ >= 0 && inject_ >= 0; }
  const std::string& why() const { return why_; }
  // Frames the kernel could not queue for the taps (their figures would lack those trials).
  uint64_t drops() const { return drops_; }

  // What has been queued since the last call; never waits.
  std::vector<WireEvent> drain() {
    std::vector<WireEvent> events;
    read(mirror_, false, events);
    read(inject_, true, events);
    return events;
  }

 private:
  int open(const char* interface) {
    const unsigned ifindex = if_nametoindex(interface);
    // Protocol 0: nothing is queued before bind(), which comes once the filter is in place.
    const int fd = ifindex == 0 ? -1 : socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    std::vector<sock_filter> code = tap_filter();
    const sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
    const int on = 1;
    // Ample for the few frames of a trial, should a drain come late.
    const int buffer = 1 << 20;
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ALL);
    at.sll_ifindex = static_cast<int>(ifindex);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0 ||
        bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) {
      why_ = std::string(interface) + ": " + std::strerror(ifindex == 0 ? ENODEV : errno);
      if (fd >= 0) close(fd);
      return -1;
    }
    return fd;
  }

  void read(int fd, bool injection, std::vector<WireEvent>& events) {
    std::array<uint8_t, kTapSnap> frame;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec)) + 64> control;
    for (;;) {
      sockaddr_ll from{};
      iovec iov{frame.data(), frame.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;  // EAGAIN: all read
      std::optional<int64_t> ns;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          ns = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
        }
      }
      const auto tcp = parse_tcp({frame.data(), static_cast<size_t>(n)});
      if (!ns || !tcp) continue;
      // Only what the sensor received on the mirror, and only what it sent out of inj0 (frames
      // the switch floods to inj0 come in, not out).
      const bool outgoing = from.sll_pkttype == PACKET_OUTGOING;
      if (!injection) {
        if (!outgoing && tcp->dst_port == kServicePort &&
            tcp->payload.find(kTriggerContent) != std::string_view::npos) {
          events.push_back({WireEvent::kTrigger, tcp->src_port, *ns});
        }
      } else if (outgoing && (tcp->flags & kTcpRst) != 0) {
        if (tcp->dst_port == kServicePort) {
          events.push_back({WireEvent::kRstToServer, tcp->src_port, *ns});
        } else if (tcp->src_port == kServicePort) {
          events.push_back({WireEvent::kRstToClient, tcp->dst_port, *ns});
        }
      }
    }
    tpacket_stats stats{};
    socklen_t len = sizeof stats;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &len) == 0) {
      drops_ += stats.tp_drops;  // the kernel resets them on each read
    }
  }

  int mirror_ = -1;
  int inject_ = -1;
  uint64_t drops_ = 0;
  std::string why_;
};

// One trial's figures on the wire, in microseconds: from the trigger on the mirror to the first RST
// toward each end leaving inj0 (nullopt when the taps saw no such frame).
struct WireTimes {
  std::optional<double> to_server_us;
  std::optional<double> to_client_us;
};

WireTimes wire_times(const std::vector<WireEvent>& events, uint16_t client_port) {
  std::optional<int64_t> trigger;
  for (const WireEvent& e : events) {
    if (e.kind == WireEvent::kTrigger && e.client_port == client_port) {
      trigger = std::min(e.ns, trigger.value_or(e.ns));  // a retransmitted trigger is not "arrival"
    }
  }
  WireTimes w;
  if (!trigger) return w;
  // The port may have served an earlier trial whose later RSTs were queued after its drain: only
  // what left after this trigger counts.
  auto first = [&](WireEvent::Kind kind) -> std::optional<double> {
    std::optional<int64_t> best;
    for (const WireEvent& e : events) {
      if (e.kind == kind && e.client_port == client_port && e.ns >= *trigger) {
        best = std::min(e.ns, best.value_or(e.ns));
      }
    }
    if (!best) return std::nullopt;
    return static_cast<double>(*best - *trigger) / 1000.0;
  };
  w.to_server_us = first(WireEvent::kRstToServer);
  w.to_client_us = first(WireEvent::kRstToClient);
  return w;
}

struct Trial {
  uint16_t client_port = 0;
  SocketEnd client;
  std::optional<ServerSession> server;  // nullopt: the server's session had not ended in time
  std::chrono::steady_clock::time_point sent;
  WireTimes wire;
  bool client_reset() const {
    return client.error == ECONNRESET && client.at - sent <= kResetLimit;
  }
  bool server_reset() const {
    return server && server->end.error == ECONNRESET && server->end.at - sent <= kResetLimit;
  }
};

struct VariantResult {
  std::string name;
  std::vector<Trial> trials;
  int failed_connects = 0;
  bool aborted = false;
  bool wire_timed = false;       // the taps were open for this variant
  std::string summary;           // the sensor's stderr, summary included
  std::vector<std::string> eve;  // its EVE lines
};

double share(size_t part, size_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// Nearest-rank percentile of a non-empty sample.
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size());
  return v[std::min(v.size() - 1, static_cast<size_t>(rank))];
}

// Outcome for one side as the sensor reported it: the follow-up record's when present, else the
// alert's own (a sensor may settle the outcome before the alert leaves when there is no watch).
std::string reported_outcome(const VariantResult& r, uint16_t port, const char* side) {
  if (const auto follow_up = eve_record(r.eve, "reset", port)) {
    return json_path(*follow_up, {"reset", side, "outcome"}).value_or("?");
  }
  if (const auto alert = eve_record(r.eve, "alert", port)) {
    const std::string o = json_path(*alert, {"reset", side, "outcome"}).value_or("?");
    return o == "pending" ? "no follow-up" : o;
  }
  return "no alert";
}

VariantResult run_variant(const SpanTestbed& bed, const Options& o, const Variant& v,
                          const std::string& burst) {
  VariantResult r;
  r.name = v.name;
  const std::string server_ip = o.ipv6 ? SpanTestbed::kServerV6 : SpanTestbed::kServerV4;
  // Before the sensor starts: see "The reset on the wire" for why the order matters.
  std::optional<WireTap> tap;
  if (o.wire_tap) {
    tap.emplace(bed);
    if (!tap->ok()) {
      std::fprintf(stderr, "%s: no wire timing, the taps did not open: %s\n", v.name.c_str(),
                   tap->why().c_str());
      tap.reset();
    }
  }
  r.wire_timed = tap.has_value();
  ResetSensor sensor(
      bed, kRule, v.sets,
      o.workers < 0 ? ResetSensor::Workers::kRunDefault : ResetSensor::Workers::kOne);
  if (!sensor.wait_ready(10s)) {
    std::fprintf(stderr, "%s: the sensor did not start:\n%s\n", v.name.c_str(),
                 sensor.log().c_str());
    r.aborted = true;
    return r;
  }
  // The server answers the first read that completes the trigger with the whole burst at once,
  // then keeps reading, so that only a reset (or the client's close) ends its session.
  TcpSessionServer server(
      bed.server(), server_ip, kServicePort,
      [&](std::string_view fresh, const std::string& all) -> std::string_view {
        const size_t at = all.find(kTriggerContent);
        const bool completed_now =
            at != std::string::npos && at + kTriggerContent.size() > all.size() - fresh.size();
        return completed_now ? std::string_view(burst) : std::string_view();
      },
      2s);
  if (!server.wait_listening(5s)) {
    std::fprintf(stderr, "%s: the server could not listen\n", v.name.c_str());
    r.aborted = true;
    return r;
  }
  for (int i = 0; i < o.trials; ++i) {
    TcpStream client(bed.client(), server_ip, kServicePort, 1s);
    if (!client.connected()) {
      ++r.failed_connects;
      continue;
    }
    Trial t;
    t.client_port = client.local_port();
    // The server must already be blocked in its read, as a real server waiting for a request is.
    if (!server.wait_accepted(t.client_port, 1s)) {
      ++r.failed_connects;
      continue;
    }
    // wait_accepted sees the session just before its recv(); give the thread time to block in it.
    std::this_thread::sleep_for(1ms);
    t.sent = std::chrono::steady_clock::now();
    client.send_all(kTrigger);
    t.client = client.read_until_end(kResetLimit);
    t.server = server.wait_ended(t.client_port, kResetLimit);
    // The race is over (both ends ended or gave up), so reading the taps now cannot delay it.
    if (tap) t.wire = wire_times(tap->drain(), t.client_port);
    r.trials.push_back(t);
    if (static_cast<int>(r.trials.size()) == kProbeTrials &&
        std::none_of(r.trials.begin(), r.trials.end(),
                     [](const Trial& x) { return x.client_reset() || x.server_reset(); })) {
      std::fprintf(stderr, "%s: nothing reset in the first %d trials; stopping this variant\n",
                   v.name.c_str(), kProbeTrials);
      r.aborted = true;
      break;
    }
  }
  // Let the last kill watch end so that its follow-up record is written before the summary.
  std::this_thread::sleep_for(v.kill_watch + 700ms);
  if (sensor.stop() != 0)
    std::fprintf(stderr, "%s: the sensor did not exit cleanly\n", v.name.c_str());
  if (tap && tap->drops() > 0) {
    std::fprintf(stderr, "%s: the wire taps dropped %llu frames; wire figures may lack trials\n",
                 v.name.c_str(), static_cast<unsigned long long>(tap->drops()));
  }
  r.summary = sensor.log();
  r.eve = sensor.eve_lines();
  return r;
}

// One column of the report.
struct Figures {
  std::string name;
  std::vector<std::pair<std::string, std::string>> rows;
  std::string respond_line;  // the sensor's own "respond" summary line, for reference
};

std::string percent(size_t part, size_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", share(part, whole));
  return buf;
}

std::string micros(std::optional<double> us) {
  if (!us) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", *us);
  return buf;
}

std::string describe(const SocketEnd& end, std::chrono::steady_clock::time_point sent) {
  char buf[96];
  const double after = std::chrono::duration<double, std::micro>(end.at - sent).count();
  if (end.error != 0) {
    std::snprintf(buf, sizeof buf, "%s after %.0f us", std::strerror(end.error), after);
  } else if (end.eof) {
    std::snprintf(buf, sizeof buf, "EOF after %.0f us", after);
  } else {
    std::snprintf(buf, sizeof buf, "open");
  }
  return buf;
}

// One line per trial that did not go perfectly: both ends reset, nothing leaked, outcome true.
void print_imperfect(const VariantResult& r) {
  for (const Trial& t : r.trials) {
    const std::string c = reported_outcome(r, t.client_port, "client");
    const std::string s = reported_outcome(r, t.client_port, "server");
    const bool perfect = t.client_reset() && t.server_reset() && t.client.bytes_received == 0 &&
                         c == "reset" && s == "reset";
    if (perfect) continue;
    std::printf(
        "  port %5u  client: %-30s %6zu B | server: %-30s | reported client %s, server %s\n",
        t.client_port, describe(t.client, t.sent).c_str(), t.client.bytes_received,
        t.server ? describe(t.server->end, t.sent).c_str() : "session still open", c.c_str(),
        s.c_str());
  }
}

Figures figures(const VariantResult& r) {
  const size_t n = r.trials.size();
  size_t both = 0, client = 0, server = 0, leaked = 0, reported = 0, matched = 0;
  std::vector<double> client_after_us, wire_server_us, wire_client_us;
  for (const Trial& t : r.trials) {
    if (t.wire.to_server_us) wire_server_us.push_back(*t.wire.to_server_us);
    if (t.wire.to_client_us) wire_client_us.push_back(*t.wire.to_client_us);
    both += t.client_reset() && t.server_reset();
    client += t.client_reset();
    server += t.server_reset();
    leaked += t.client.bytes_received > 0;
    if (t.client_reset()) {
      client_after_us.push_back(
          std::chrono::duration<double, std::micro>(t.client.at - t.sent).count());
    }
    const std::string c = reported_outcome(r, t.client_port, "client");
    const std::string s = reported_outcome(r, t.client_port, "server");
    const bool has_outcome = c != "no alert" && c != "no follow-up" && c != "?";
    reported += has_outcome;
    // "reset" is claimed exactly when that side's socket failed with ECONNRESET.
    matched +=
        has_outcome && (c == "reset") == t.client_reset() && (s == "reset") == t.server_reset();
  }
  auto sensor_us = [&](const char* counter) -> std::optional<double> {
    const std::optional<uint64_t> ns = summary_counter(r.summary, counter);
    if (!ns) return std::nullopt;
    return static_cast<double>(*ns) / 1000.0;
  };
  auto app_us = [&](double p) -> std::optional<double> {
    if (client_after_us.empty()) return std::nullopt;
    return percentile(client_after_us, p);
  };
  auto wire_us = [&](const std::vector<double>& sample, double p) -> std::string {
    if (!r.wire_timed) return "off";
    if (sample.empty()) return "n/a";
    return micros(percentile(sample, p));
  };
  char wire_count[64] = "off";
  if (r.wire_timed) {
    std::snprintf(wire_count, sizeof wire_count, "%zu / %zu of %zu", wire_server_us.size(),
                  wire_client_us.size(), n);
  }
  Figures f;
  f.name = r.name + (r.aborted ? " (stopped early)" : "");
  f.rows = {
      {"trials", std::to_string(n)},
      {"failed to connect", std::to_string(r.failed_connects)},
      {"both ends reset (kill rate)", percent(both, n)},
      {"client reset", percent(client, n)},
      {"server reset", percent(server, n)},
      {"reply bytes reached client", percent(leaked, n)},
      {"trigger-to-send p50 (sensor)", micros(sensor_us("latency_p50_ns"))},
      {"trigger-to-send p99 (sensor)", micros(sensor_us("latency_p99_ns"))},
      {"trigger-to-send max (sensor)", micros(sensor_us("latency_max_ns"))},
      {"trials timed on the wire (RST to server / to client)", wire_count},
      {"trigger on mirror -> RST to server on wire p50 (kernel ts)", wire_us(wire_server_us, 50)},
      {"trigger on mirror -> RST to server on wire p90 (kernel ts)", wire_us(wire_server_us, 90)},
      {"trigger on mirror -> RST to server on wire p99 (kernel ts)", wire_us(wire_server_us, 99)},
      {"trigger on mirror -> RST to server on wire max (kernel ts)", wire_us(wire_server_us, 100)},
      {"trigger on mirror -> RST to client on wire p50 (kernel ts)", wire_us(wire_client_us, 50)},
      {"trigger on mirror -> RST to client on wire p90 (kernel ts)", wire_us(wire_client_us, 90)},
      {"trigger on mirror -> RST to client on wire p99 (kernel ts)", wire_us(wire_client_us, 99)},
      {"trigger on mirror -> RST to client on wire max (kernel ts)", wire_us(wire_client_us, 100)},
      {"client saw reset, p50 (app)", micros(app_us(50))},
      {"client saw reset, p99 (app)", micros(app_us(99))},
      {"outcome reported", percent(reported, n)},
      {"reported outcome was true", percent(matched, n)}};
  // The summary's respond line and its indented continuation lines.
  std::smatch m;
  if (std::regex_search(r.summary, m, std::regex("\n  respond +([^\n]*(\n {6,}[^\n]*)*)"))) {
    f.respond_line = std::regex_replace(m[1].str(), std::regex("\n +"), " ");
  }
  return f;
}

void print_table(const std::vector<Figures>& columns) {
  int label_width = 30;
  for (const auto& row : columns.front().rows) {
    label_width = std::max(label_width, static_cast<int>(row.first.size()));
  }
  std::printf("\n%-*s", label_width, "");
  for (const Figures& c : columns) std::printf(" | %-44s", c.name.c_str());
  std::printf("\n");
  for (size_t row = 0; row < columns.front().rows.size(); ++row) {
    std::printf("%-*s", label_width, columns.front().rows[row].first.c_str());
    for (const Figures& c : columns) std::printf(" | %-44s", c.rows[row].second.c_str());
    std::printf("\n");
  }
  for (const Figures& c : columns) {
    std::printf("\n%s, sensor summary: %s", c.name.c_str(),
                c.respond_line.empty() ? "(no respond line)" : c.respond_line.c_str());
  }
  std::printf("\n");
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--trials N] [--burst BYTES] [--ipv6] [--tagged] [--no-watch KEY=VALUE] "
               "[--no-wire-tap] [--verbose] [--workers N|default]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--trials" && i + 1 < argc) {
      o.trials = std::atoi(argv[++i]);
    } else if (a == "--burst" && i + 1 < argc) {
      o.burst = static_cast<size_t>(std::atol(argv[++i]));
    } else if (a == "--ipv6") {
      o.ipv6 = true;
    } else if (a == "--tagged") {
      o.tagged = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--no-wire-tap") {
      o.wire_tap = false;
    } else if (a == "--no-watch" && i + 1 < argc) {
      o.no_watch = argv[++i];
    } else if (a == "--workers" && i + 1 < argc) {
      const std::string n = argv[++i];
      o.workers = n == "default" ? -1 : std::atoi(n.c_str());
    } else {
      return usage(argv[0]);
    }
  }
  if (o.trials < 1 || o.trials > 100000 || o.burst < 1) return usage(argv[0]);
  if (geteuid() != 0) {
    std::fprintf(stderr, "reset_race_bench needs root (network namespaces)\n");
    return 1;
  }
  SpanTestbed bed({.tagged_mirror = o.tagged});
  if (!bed.ok()) {
    std::fprintf(stderr, "test bed: %s\n", bed.why().c_str());
    return 1;
  }
  const std::string burst(o.burst, 'b');
  // The watch still runs (500 ms) in the second variant so that outcomes are reported; only its
  // answers to later packets are off.
  Variant variants[] = {{"with kill watch", {}, 500ms},
                        {"without kill watch (" + o.no_watch + ")", {o.no_watch}, 500ms}};
  if (o.workers >= 0) {
    for (Variant& v : variants) v.sets.push_back("pipeline.workers=" + std::to_string(o.workers));
  }
  std::printf("reset race: %d trials per variant, %zu-byte burst, %s%s, workers %s, %s\n", o.trials,
              o.burst, o.ipv6 ? "IPv6" : "IPv4", o.tagged ? ", 802.1Q-tagged mirror" : "",
              o.workers < 0    ? "as run picks by default"
              : o.workers == 0 ? "one per core"
                               : std::to_string(o.workers).c_str(),
              spanguard_binary().c_str());
  bool all_ran = true;
  std::vector<Figures> columns;
  for (const Variant& v : variants) {
    const VariantResult r = run_variant(bed, o, v, burst);
    all_ran = all_ran && !r.aborted;
    columns.push_back(figures(r));
    if (o.verbose) {
      std::printf("%s: trials that did not go perfectly\n", r.name.c_str());
      print_imperfect(r);
    }
  }
  print_table(columns);
  return all_ran ? 0 : 1;
}
