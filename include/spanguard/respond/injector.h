// Injectors put response frames on the wire: through libnet at layer 2 (the default: Ethernet
// frames with the victim's MAC and the observed VLAN tags) or layer 3 (raw IP sockets, the kernel
// routes), or into a pcap file for offline runs and tests. One injector per worker: no locks on the
// send path.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "spanguard/capture/source.h"
#include "spanguard/core/time.h"

struct libnet_context;

namespace spanguard::respond {

class Injector {
 public:
  virtual ~Injector() = default;
  // Whether frames start with an Ethernet header (false: at the IP header).
  virtual bool link_layer() const = 0;
  // The injection interface's own MAC (the default source MAC of layer-2 responses).
  virtual std::array<uint8_t, 6> own_mac() const = 0;
  // Sends one frame. `cause` is the capture time of the packet that caused it (the pcap injector
  // stamps frames with it). False when the kernel refused the frame.
  virtual bool send(std::span<const uint8_t> frame, core::Timestamp cause) = 0;
  // True when frames reach a real network, so that trigger-to-send latency means something.
  virtual bool live() const = 0;
  // Sends a frame the network drops, to keep the send path's caches and socket warm between rare
  // triggers (a cold send costs ~3 µs after 1 ms idle, ~27 µs after 30 ms). Default: nothing.
  virtual void keep_warm() {}
  virtual std::string name() const = 0;
};

struct LibnetCloser {
  void operator()(libnet_context* l) const;
};
using LibnetHandle = std::unique_ptr<libnet_context, LibnetCloser>;

// Layer 2 through libnet (LIBNET_LINK_ADV). The frame is sent with sendto() on libnet's own packet
// socket and an interface index resolved once: libnet 1.1.6's libnet_write_link() repeats an
// SIOCGIFINDEX ioctl on every write (+1.5 µs hot, +14 µs cold, measured). libnet's socket is
// unbound and would receive every frame on the host: a drop-all filter is attached to it.
class LinkInjector final : public Injector {
 public:
  explicit LinkInjector(const std::string& interface);  // throws core::RuntimeError
  bool link_layer() const override { return true; }
  std::array<uint8_t, 6> own_mac() const override { return mac_; }
  bool send(std::span<const uint8_t> frame, core::Timestamp cause) override;
  bool live() const override { return true; }
  void keep_warm() override;
  std::string name() const override { return interface_; }

 private:
  std::string interface_;
  LibnetHandle libnet_;
  int fd_ = -1;
  int ifindex_ = 0;
  std::array<uint8_t, 6> mac_{};
  std::array<uint8_t, 60> warm_frame_{};
};

// Layer 3 through libnet raw sockets (LIBNET_RAW4_ADV / LIBNET_RAW6_ADV): the kernel routes the
// datagram and resolves the next hop; for sensors whose injection path is routed, not switched.
class RawInjector final : public Injector {
 public:
  explicit RawInjector(const std::string& interface);  // throws core::RuntimeError
  bool link_layer() const override { return false; }
  std::array<uint8_t, 6> own_mac() const override { return {}; }
  bool send(std::span<const uint8_t> frame, core::Timestamp cause) override;
  bool live() const override { return true; }
  std::string name() const override { return interface_; }

 private:
  std::string interface_;
  LibnetHandle v4_;
  LibnetHandle v6_;
};

// A pcap file shared by the workers of an offline run: exactly the frames that would have been
// sent, each stamped with the capture time of the packet that caused it.
class PcapWriter {
 public:
  PcapWriter(const std::string& path, bool link_layer);  // throws core::RuntimeError
  ~PcapWriter();
  void write(std::span<const uint8_t> frame, core::Timestamp ts);
  bool link_layer() const { return link_layer_; }

 private:
  std::mutex mutex_;
  capture::PcapHandle pcap_;
  pcap_dumper_t* dumper_ = nullptr;
  bool link_layer_;
};

class PcapInjector final : public Injector {
 public:
  // `mac`: the source MAC frames carry (the named injection interface's, when one was given).
  PcapInjector(PcapWriter& writer, std::array<uint8_t, 6> mac) : writer_(writer), mac_(mac) {}
  bool link_layer() const override { return writer_.link_layer(); }
  std::array<uint8_t, 6> own_mac() const override { return mac_; }
  bool send(std::span<const uint8_t> frame, core::Timestamp cause) override {
    writer_.write(frame, cause);
    return true;
  }
  bool live() const override { return false; }
  std::string name() const override { return "pcap"; }

 private:
  PcapWriter& writer_;
  std::array<uint8_t, 6> mac_;
};

// The MAC address of a local interface (from sysfs; no privileges needed), or nullopt.
std::optional<std::array<uint8_t, 6>> interface_mac(const std::string& interface);

}  // namespace spanguard::respond
