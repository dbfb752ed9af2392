// Serialisation of FrameBuilder layers, innermost first.
#include "frame_builder.h"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

namespace spanguard::testing {

namespace {

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void set16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (; n >= 2; p += 2, n -= 2) sum += static_cast<uint32_t>(p[0] << 8 | p[1]);
  if (n) sum += static_cast<uint32_t>(p[0] << 8);
  return sum;
}
uint16_t finish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

Bytes hex(std::string_view text) {
  Bytes out;
  int nibble = -1;
  for (char ch : text) {
    int v;
    if (ch >= '0' && ch <= '9')
      v = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F')
      v = ch - 'A' + 10;
    else
      continue;
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<uint8_t>(nibble << 4 | v));
      nibble = -1;
    }
  }
  return out;
}

FrameBuilder::Layer& FrameBuilder::push(Kind kind) {
  layers_.push_back(Layer{});
  layers_.back().kind = kind;
  return layers_.back();
}

FrameBuilder& FrameBuilder::ethernet(Mac src, Mac dst) {
  Layer& l = push(Kind::kEth);
  l.src_mac = src;
  l.dst_mac = dst;
  return *this;
}
FrameBuilder& FrameBuilder::vlan(uint16_t id, uint16_t tpid, uint8_t priority) {
  Layer& l = push(Kind::kVlan);
  l.a = id;
  l.b = tpid;
  l.small = priority;
  return *this;
}
FrameBuilder& FrameBuilder::sll() {
  push(Kind::kSll).src_mac = kClientMac;
  return *this;
}
FrameBuilder& FrameBuilder::sll2() {
  push(Kind::kSll2).src_mac = kClientMac;
  return *this;
}
FrameBuilder& FrameBuilder::null_loop(uint32_t family) {
  push(Kind::kNull).c = family;
  return *this;
}

namespace {
void parse_ip(std::string_view text, int family, std::array<uint8_t, 16>& out) {
  const std::string s(text);
  if (inet_pton(family, s.c_str(), out.data()) != 1) {
    throw std::invalid_argument("bad address for the frame builder: " + s);
  }
}
}  // namespace

FrameBuilder& FrameBuilder::ipv4(std::string_view src, std::string_view dst, Ipv4Fields f) {
  Layer& l = push(Kind::kIpv4);
  parse_ip(src, AF_INET, l.src_ip);
  parse_ip(dst, AF_INET, l.dst_ip);
  l.v4 = std::move(f);
  return *this;
}
FrameBuilder& FrameBuilder::ipv6(std::string_view src, std::string_view dst, Ipv6Fields f) {
  Layer& l = push(Kind::kIpv6);
  parse_ip(src, AF_INET6, l.src_ip);
  parse_ip(dst, AF_INET6, l.dst_ip);
  l.v6 = std::move(f);
  return *this;
}
FrameBuilder& FrameBuilder::tcp(uint16_t sport, uint16_t dport, TcpFields f) {
  Layer& l = push(Kind::kTcp);
  l.a = sport;
  l.b = dport;
  l.tcp = std::move(f);
  return *this;
}
FrameBuilder& FrameBuilder::udp(uint16_t sport, uint16_t dport, std::optional<uint16_t> length,
                                std::optional<uint16_t> checksum) {
  Layer& l = push(Kind::kUdp);
  l.a = sport;
  l.b = dport;
  l.opt16a = length;
  l.opt16b = checksum;
  return *this;
}
FrameBuilder& FrameBuilder::icmp(uint8_t type, uint8_t code, uint32_t rest) {
  Layer& l = push(Kind::kIcmp);
  l.small = type;
  l.small2 = code;
  l.c = rest;
  return *this;
}
FrameBuilder& FrameBuilder::gre(GreFields f) {
  push(Kind::kGre).gre = f;
  return *this;
}
FrameBuilder& FrameBuilder::erspan2(uint16_t session, uint16_t vlan_id, uint32_t index) {
  Layer& l = push(Kind::kErspan2);
  l.a = session;
  l.b = vlan_id;
  l.c = index;
  return *this;
}
FrameBuilder& FrameBuilder::erspan3(uint16_t session, bool platform_subheader, uint8_t version) {
  Layer& l = push(Kind::kErspan3);
  l.a = session;
  l.flag = platform_subheader;
  l.small = version;
  return *this;
}
FrameBuilder& FrameBuilder::vxlan(uint32_t vni, uint8_t flags) {
  Layer& l = push(Kind::kVxlan);
  l.c = vni;
  l.small = flags;
  return *this;
}
FrameBuilder& FrameBuilder::pppoe(PppoeFields f) {
  push(Kind::kPppoe).pppoe = f;
  return *this;
}
FrameBuilder& FrameBuilder::ppp(PppFields f) {
  push(Kind::kPpp).ppp = f;
  return *this;
}
FrameBuilder& FrameBuilder::cisco_hdlc(uint8_t address) {
  push(Kind::kCiscoHdlc).small = address;
  return *this;
}
FrameBuilder& FrameBuilder::pptp(PptpFields f) {
  push(Kind::kPptp).pptp = f;
  return *this;
}
FrameBuilder& FrameBuilder::payload(std::string_view text) {
  push(Kind::kPayload).data.assign(text.begin(), text.end());
  return *this;
}
FrameBuilder& FrameBuilder::payload(const Bytes& bytes) {
  push(Kind::kPayload).data = bytes;
  return *this;
}

uint16_t FrameBuilder::ethertype_of(size_t index) const {
  if (index >= layers_.size()) return 0x88b5;  // IEEE local experimental
  switch (layers_[index].kind) {
    case Kind::kIpv4:
      return 0x0800;
    case Kind::kIpv6:
      return 0x86dd;
    case Kind::kVlan:
      return layers_[index].b;
    case Kind::kEth:
      return 0x6558;
    case Kind::kErspan2:
      return 0x88be;
    case Kind::kErspan3:
      return 0x22eb;
    case Kind::kPppoe:
      return 0x8864;
    case Kind::kPpp:
      return 0x880b;  // as a GRE protocol type
    default:
      return 0x88b5;
  }
}

uint16_t FrameBuilder::ppp_protocol_of(size_t index) const {
  if (index < layers_.size() && layers_[index].kind == Kind::kIpv4) return 0x0021;
  if (index < layers_.size() && layers_[index].kind == Kind::kIpv6) return 0x0057;
  return 0xc021;  // LCP
}

uint8_t FrameBuilder::ip_proto_of(size_t index) const {
  if (index >= layers_.size()) return 59;
  switch (layers_[index].kind) {
    case Kind::kTcp:
      return 6;
    case Kind::kUdp:
      return 17;
    case Kind::kGre:
    case Kind::kPptp:
      return 47;
    case Kind::kIcmp:
      for (size_t j = index; j-- > 0;) {
        if (layers_[j].kind == Kind::kIpv6) return 58;
        if (layers_[j].kind == Kind::kIpv4) return 1;
      }
      return 1;
    default:
      return 253;  // RFC 3692 experimental
  }
}

uint32_t FrameBuilder::l4_checksum(size_t l4_index, const Bytes& segment, uint8_t proto) const {
  for (size_t j = l4_index; j-- > 0;) {
    const Layer& ip = layers_[j];
    if (ip.kind == Kind::kIpv4 || ip.kind == Kind::kIpv6) {
      const size_t alen = ip.kind == Kind::kIpv4 ? 4 : 16;
      uint32_t sum = sum16(ip.src_ip.data(), alen);
      sum = sum16(ip.dst_ip.data(), alen, sum);
      sum += proto;
      sum += static_cast<uint32_t>(segment.size() & 0xffff) +
             static_cast<uint32_t>(segment.size() >> 16);
      return finish(sum16(segment.data(), segment.size(), sum));
    }
  }
  return finish(sum16(segment.data(), segment.size()));
}

void FrameBuilder::serialise(size_t i, Bytes& inner) const {
  const Layer& l = layers_[i];
  Bytes h;
  switch (l.kind) {
    case Kind::kPayload:
      h = l.data;
      break;
    case Kind::kEth:
      h.insert(h.end(), l.dst_mac.begin(), l.dst_mac.end());
      h.insert(h.end(), l.src_mac.begin(), l.src_mac.end());
      put16(h, ethertype_of(i + 1));
      break;
    case Kind::kVlan:
      put16(h, static_cast<uint16_t>(l.small << 13 | (l.a & 0x0fff)));
      put16(h, ethertype_of(i + 1));
      break;
    case Kind::kSll:
      put16(h, 0);  // addressed to us
      put16(h, 1);  // ARPHRD_ETHER
      put16(h, 6);
      h.insert(h.end(), l.src_mac.begin(), l.src_mac.end());
      put16(h, 0);
      put16(h, ethertype_of(i + 1));
      break;
    case Kind::kSll2:
      put16(h, ethertype_of(i + 1));
      put16(h, 0);
      put32(h, 3);  // interface index
      put16(h, 1);  // ARPHRD_ETHER
      h.push_back(0);
      h.push_back(6);
      h.insert(h.end(), l.src_mac.begin(), l.src_mac.end());
      put16(h, 0);
      break;
    case Kind::kNull:
      h.resize(4);
      std::memcpy(h.data(), &l.c, 4);
      break;
    case Kind::kIpv4: {
      const Ipv4Fields& f = l.v4;
      Bytes options = f.options;
      while (options.size() % 4) options.push_back(0);
      const size_t hlen = 20 + options.size();
      h.push_back(static_cast<uint8_t>(0x40 | (f.ihl_words ? *f.ihl_words : hlen / 4)));
      h.push_back(f.tos);
      put16(h, f.total_length ? *f.total_length : static_cast<uint16_t>(hlen + inner.size()));
      put16(h, f.id);
      put16(h, static_cast<uint16_t>((f.dont_fragment ? 0x4000 : 0) |
                                     (f.more_fragments ? 0x2000 : 0) | (f.fragment_offset / 8)));
      h.push_back(f.ttl);
      h.push_back(f.protocol ? *f.protocol : ip_proto_of(i + 1));
      put16(h, 0);
      h.insert(h.end(), l.src_ip.begin(), l.src_ip.begin() + 4);
      h.insert(h.end(), l.dst_ip.begin(), l.dst_ip.begin() + 4);
      h.insert(h.end(), options.begin(), options.end());
      set16(h, 10, f.checksum ? *f.checksum : finish(sum16(h.data(), h.size())));
      break;
    }
    case Kind::kIpv6: {
      const Ipv6Fields& f = l.v6;
      const uint8_t final_next = f.next_header ? *f.next_header : ip_proto_of(i + 1);
      Bytes ext;
      for (size_t k = 0; k < f.extensions.size(); ++k) {
        const Ipv6Extension& e = f.extensions[k];
        const uint8_t next = k + 1 < f.extensions.size() ? f.extensions[k + 1].type : final_next;
        Bytes one{next, 0};
        if (e.type == 44) {
          put16(one,
                static_cast<uint16_t>((e.fragment_offset & 0xfff8) | (e.more_fragments ? 1 : 0)));
          put32(one, e.identification);
        } else if (e.type == 51) {
          // AH (RFC 4302): length in 4-byte words minus 2; reserved, SPI, sequence, ICV.
          one.insert(one.end(), e.body.begin(), e.body.end());
          while (one.size() < 12 || one.size() % 4) one.push_back(0);
          one[1] = static_cast<uint8_t>(one.size() / 4 - 2);
        } else {
          // Options headers and routing: length in 8-byte units minus 1, padded with Pad1/PadN.
          one.insert(one.end(), e.body.begin(), e.body.end());
          size_t pad = (8 - one.size() % 8) % 8;
          if (pad == 1) {
            one.push_back(0);
          } else if (pad >= 2) {
            one.push_back(1);
            one.push_back(static_cast<uint8_t>(pad - 2));
            one.insert(one.end(), pad - 2, 0);
          }
          one[1] = static_cast<uint8_t>(one.size() / 8 - 1);
        }
        if (e.length_field) one[1] = *e.length_field;
        ext.insert(ext.end(), one.begin(), one.end());
      }
      put32(h, 0x60000000u | (f.flow_label & 0xfffff));
      put16(h, f.payload_length ? *f.payload_length
                                : static_cast<uint16_t>(ext.size() + inner.size()));
      h.push_back(f.extensions.empty() ? final_next : f.extensions.front().type);
      h.push_back(f.hop_limit);
      h.insert(h.end(), l.src_ip.begin(), l.src_ip.end());
      h.insert(h.end(), l.dst_ip.begin(), l.dst_ip.end());
      h.insert(h.end(), ext.begin(), ext.end());
      break;
    }
    case Kind::kTcp: {
      const TcpFields& f = l.tcp;
      Bytes opt;
      if (f.mss) {
        opt.insert(opt.end(), {2, 4});
        put16(opt, *f.mss);
      }
      if (f.wscale) opt.insert(opt.end(), {1, 3, 3, *f.wscale});
      if (f.sack_permitted) opt.insert(opt.end(), {1, 1, 4, 2});
      if (f.timestamps) {
        opt.insert(opt.end(), {1, 1, 8, 10});
        put32(opt, f.timestamps->first);
        put32(opt, f.timestamps->second);
      }
      if (!f.sack_blocks.empty()) {
        opt.insert(opt.end(), {1, 1, 5, static_cast<uint8_t>(2 + 8 * f.sack_blocks.size())});
        for (const auto& [left, right] : f.sack_blocks) {
          put32(opt, left);
          put32(opt, right);
        }
      }
      opt.insert(opt.end(), f.raw_options.begin(), f.raw_options.end());
      while (opt.size() % 4) opt.push_back(0);
      put16(h, l.a);
      put16(h, l.b);
      put32(h, f.seq);
      put32(h, f.ack);
      const size_t hlen = 20 + opt.size();
      h.push_back(
          static_cast<uint8_t>((f.data_offset_words ? *f.data_offset_words : hlen / 4) << 4));
      h.push_back(f.flags);
      put16(h, f.window);
      put16(h, 0);
      put16(h, 0);
      h.insert(h.end(), opt.begin(), opt.end());
      Bytes segment = h;
      segment.insert(segment.end(), inner.begin(), inner.end());
      set16(h, 16, f.checksum ? *f.checksum : static_cast<uint16_t>(l4_checksum(i, segment, 6)));
      break;
    }
    case Kind::kUdp: {
      put16(h, l.a);
      put16(h, l.b);
      put16(h, l.opt16a ? *l.opt16a : static_cast<uint16_t>(8 + inner.size()));
      put16(h, 0);
      Bytes segment = h;
      segment.insert(segment.end(), inner.begin(), inner.end());
      uint16_t sum = static_cast<uint16_t>(l4_checksum(i, segment, 17));
      if (sum == 0) sum = 0xffff;  // RFC 768: a computed zero is sent as all ones
      set16(h, 6, l.opt16b ? *l.opt16b : sum);
      break;
    }
    case Kind::kIcmp: {
      h.push_back(l.small);
      h.push_back(l.small2);
      put16(h, 0);
      put32(h, l.c);
      Bytes message = h;
      message.insert(message.end(), inner.begin(), inner.end());
      const uint8_t proto = ip_proto_of(i);
      set16(h, 2,
            proto == 58 ? static_cast<uint16_t>(l4_checksum(i, message, 58))
                        : finish(sum16(message.data(), message.size())));
      break;
    }
    case Kind::kGre: {
      const GreFields& f = l.gre;
      const bool erspan2_next = i + 1 < layers_.size() && layers_[i + 1].kind == Kind::kErspan2;
      const bool seq = f.sequence.has_value() || erspan2_next;  // ERSPAN II needs the S bit
      put16(h, static_cast<uint16_t>((f.checksum ? 0x8000 : 0) | (f.key ? 0x2000 : 0) |
                                     (seq ? 0x1000 : 0) | (f.version & 7)));
      put16(h, f.protocol ? *f.protocol : ethertype_of(i + 1));
      if (f.checksum) put32(h, 0);
      if (f.key) put32(h, *f.key);
      if (seq) put32(h, f.sequence.value_or(0));
      if (f.checksum) {
        Bytes all = h;
        all.insert(all.end(), inner.begin(), inner.end());
        set16(h, 4, finish(sum16(all.data(), all.size())));
      }
      break;
    }
    case Kind::kErspan2:
      put16(h, static_cast<uint16_t>(1 << 12 | (l.b & 0x0fff)));
      put16(h, static_cast<uint16_t>(l.a & 0x03ff));
      put32(h, l.c & 0xfffff);
      break;
    case Kind::kErspan3:
      put16(h, static_cast<uint16_t>(l.small << 12));
      put16(h, static_cast<uint16_t>(l.a & 0x03ff));
      put32(h, 0x12345678);  // timestamp
      put16(h, 0);           // security group tag
      h.push_back(0);        // P=0, FT=0 (Ethernet), HwID high bits
      h.push_back(l.flag ? 0x01 : 0x00);
      if (l.flag) put32(h, 0x01020304), put32(h, 0x05060708);  // platform-specific sub-header
      break;
    case Kind::kVxlan:
      h.push_back(l.small);
      h.insert(h.end(), {0, 0, 0});
      put32(h, l.c << 8);
      break;
    case Kind::kPppoe: {
      const PppoeFields& f = l.pppoe;
      h.push_back(f.version_type);
      h.push_back(f.code);
      put16(h, f.session);
      put16(h, f.length ? *f.length : static_cast<uint16_t>(inner.size()));
      break;
    }
    case Kind::kPpp: {
      const PppFields& f = l.ppp;
      if (f.address_control) h.insert(h.end(), {0xff, 0x03});
      const uint16_t proto = f.protocol ? *f.protocol : ppp_protocol_of(i + 1);
      if (f.compress_protocol && proto < 0x100) {
        h.push_back(static_cast<uint8_t>(proto));
      } else {
        put16(h, proto);
      }
      break;
    }
    case Kind::kCiscoHdlc:
      h.push_back(l.small);
      h.push_back(0x00);
      put16(h, ethertype_of(i + 1));
      break;
    case Kind::kPptp: {
      const PptpFields& f = l.pptp;
      put16(h, static_cast<uint16_t>(0x2000 | (f.sequence ? 0x1000 : 0) | (f.ack ? 0x0080 : 0) |
                                     (f.version & 7)));
      put16(h, f.protocol ? *f.protocol : ethertype_of(i + 1));
      put16(h, f.payload_length ? *f.payload_length : static_cast<uint16_t>(inner.size()));
      put16(h, f.call_id);
      if (f.sequence) put32(h, *f.sequence);
      if (f.ack) put32(h, *f.ack);
      break;
    }
  }
  h.insert(h.end(), inner.begin(), inner.end());
  inner = std::move(h);
}

Bytes FrameBuilder::build() const {
  Bytes frame;
  for (size_t i = layers_.size(); i-- > 0;) serialise(i, frame);
  return frame;
}

}  // namespace spanguard::testing
