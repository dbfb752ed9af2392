// libnet and pcap injectors.
#include "spanguard/respond/injector.h"

#include <libnet.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "spanguard/core/error.h"

namespace spanguard::respond {

void LibnetCloser::operator()(libnet_context* l) const { libnet_destroy(l); }

namespace {

// A classic BPF program that accepts nothing: the injection sockets never read.
void attach_drop_all(int fd) {
  static sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  sock_fprog prog{.len = 1, .filter = code};
  setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);  // best effort
}

LibnetHandle open_libnet(int type, const std::string& interface, const char* what) {
  char err[LIBNET_ERRBUF_SIZE] = "";
  LibnetHandle l(libnet_init(type, interface.empty() ? nullptr : interface.c_str(), err));
  if (!l) {
    std::string reason = err;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    throw core::RuntimeError("respond.interface " + (interface.empty() ? "(any)" : interface) +
                             ": cannot open " + what + " injection: " + reason);
  }
  return l;
}

}  // namespace

LinkInjector::LinkInjector(const std::string& interface)
    : interface_(interface), libnet_(open_libnet(LIBNET_LINK_ADV, interface, "layer-2")) {
  fd_ = libnet_getfd(libnet_.get());
  ifindex_ = static_cast<int>(if_nametoindex(interface.c_str()));
  if (ifindex_ == 0) {
    throw core::RuntimeError("respond.interface " + interface + ": no such interface");
  }
  if (const libnet_ether_addr* hw = libnet_get_hwaddr(libnet_.get()); hw != nullptr) {
    std::memcpy(mac_.data(), hw->ether_addr_octet, 6);
  }
  attach_drop_all(fd_);
  // The warm-up frame: a multicast source MAC, which every bridge and switch discards on ingress
  // (IEEE 802.1Q §8.6; Linux br_handle_frame), so it reaches no host and moves no forwarding
  // entry; EtherType 0x88b5 (local experimental).
  warm_frame_.fill(0);
  std::memcpy(warm_frame_.data(), mac_.data(), 6);
  warm_frame_[6] = 0x01;
  warm_frame_[11] = 0x01;
  warm_frame_[12] = 0x88;
  warm_frame_[13] = 0xb5;
}

bool LinkInjector::send(std::span<const uint8_t> frame, core::Timestamp) {
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifindex_;
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, frame.data(), 6);
  const ssize_t n =
      sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  return n == static_cast<ssize_t>(frame.size());
}

void LinkInjector::keep_warm() { send(warm_frame_, {}); }

RawInjector::RawInjector(const std::string& interface)
    : interface_(interface),
      v4_(open_libnet(LIBNET_RAW4_ADV, interface, "IPv4 raw")),
      v6_(open_libnet(LIBNET_RAW6_ADV, interface, "IPv6 raw")) {
  attach_drop_all(libnet_getfd(v4_.get()));
  attach_drop_all(libnet_getfd(v6_.get()));
}

bool RawInjector::send(std::span<const uint8_t> frame, core::Timestamp) {
  if (frame.empty()) return false;
  const auto size = static_cast<uint32_t>(frame.size());
  const int n = (frame[0] >> 4) == 4 ? libnet_write_raw_ipv4(v4_.get(), frame.data(), size)
                                     : libnet_write_raw_ipv6(v6_.get(), frame.data(), size);
  return n == static_cast<int>(size);
}

PcapWriter::PcapWriter(const std::string& path, bool link_layer) : link_layer_(link_layer) {
  pcap_.reset(pcap_open_dead_with_tstamp_precision(link_layer ? DLT_EN10MB : DLT_RAW, 65535,
                                                   PCAP_TSTAMP_PRECISION_NANO));
  if (!pcap_) throw core::RuntimeError(path + ": cannot create a pcap writer");
  dumper_ = pcap_dump_open(pcap_.get(), path.c_str());
  if (dumper_ == nullptr) {
    throw core::RuntimeError("--resets-pcap " + path + ": " + pcap_geterr(pcap_.get()));
  }
}

PcapWriter::~PcapWriter() {
  if (dumper_ != nullptr) pcap_dump_close(dumper_);
}

void PcapWriter::write(std::span<const uint8_t> frame, core::Timestamp ts) {
  const int64_t ns = core::to_ns(ts);
  pcap_pkthdr h{};
  h.ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  h.ts.tv_usec = static_cast<suseconds_t>(ns % 1'000'000'000);  // nanoseconds: see pcap_open_dead
  h.caplen = h.len = static_cast<bpf_u_int32>(frame.size());
  std::lock_guard lock(mutex_);
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, frame.data());
  pcap_dump_flush(dumper_);
}

std::optional<std::array<uint8_t, 6>> interface_mac(const std::string& interface) {
  if (interface.empty() || interface.find('/') != std::string::npos) return std::nullopt;
  std::ifstream in("/sys/class/net/" + interface + "/address");
  std::string text;
  if (!(in >> text)) return std::nullopt;
  std::array<uint8_t, 6> mac{};
  unsigned b[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) !=
      6) {
    return std::nullopt;
  }
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(b[i]);
  return mac;
}

}  // namespace spanguard::respond
