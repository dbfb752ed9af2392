// Serialisation of DnsMessageBuilder messages (RFC 1035 §4.1) with optional name compression,
// and the raw pieces malformed-message tests are assembled from.
#include "dns_messages.h"

#include <arpa/inet.h>

#include <map>
#include <stdexcept>

namespace spanguard::testing {

namespace {

std::vector<std::string> split_name(std::string_view dotted) {
  std::vector<std::string> labels;
  if (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
  if (dotted.empty()) return labels;
  size_t start = 0;
  for (;;) {
    const size_t dot = dotted.find('.', start);
    labels.emplace_back(dotted.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (const std::string& l : labels) {
    if (l.empty())
      throw std::invalid_argument("empty label in DNS name '" + std::string(dotted) + "'");
    if (l.size() > 63) throw std::invalid_argument("DNS label over 63 bytes: '" + l + "'");
  }
  return labels;
}

// Writes names, remembering where each suffix went so later names can point to it.
class NameWriter {
 public:
  NameWriter(Bytes& out, bool compress) : out_(out), compress_(compress) {}

  void write(std::string_view dotted, bool compressible = true) {
    const std::vector<std::string> labels = split_name(dotted);
    size_t wire = 1;
    for (const std::string& l : labels) wire += 1 + l.size();
    if (wire > 255) throw std::invalid_argument("DNS name over 255 octets");
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string suffix;
      for (size_t j = i; j < labels.size(); ++j) {
        if (j > i) suffix.push_back('.');
        suffix += labels[j];
      }
      if (compress_) {
        if (compressible) {
          const auto it = offsets_.find(suffix);
          if (it != offsets_.end()) {
            put_u16(out_, static_cast<uint16_t>(0xC000 | it->second));
            return;
          }
        }
        if (out_.size() < 0x4000) offsets_.emplace(suffix, static_cast<uint16_t>(out_.size()));
      }
      out_.push_back(static_cast<uint8_t>(labels[i].size()));
      out_.insert(out_.end(), labels[i].begin(), labels[i].end());
    }
    out_.push_back(0);
  }

 private:
  Bytes& out_;
  bool compress_;
  std::map<std::string, uint16_t> offsets_;  // first offset of each name suffix written
};

void write_rr(NameWriter& names, Bytes& out, const DnsRr& rr) {
  if (rr.raw_name.empty()) {
    names.write(rr.name);
  } else {
    append(out, rr.raw_name);
  }
  put_u16(out, rr.type);
  put_u16(out, rr.rclass);
  put_u32(out, rr.ttl);
  const size_t length_at = out.size();
  put_u16(out, 0);
  const size_t start = out.size();
  for (const DnsRdata::Part& part : rr.rdata.parts) {
    if (part.is_name) {
      names.write(part.name, part.compressible);
    } else {
      append(out, part.raw);
    }
  }
  const size_t length = out.size() - start;
  if (length > 0xFFFF) throw std::invalid_argument("rdata over 65535 bytes");
  out[length_at] = static_cast<uint8_t>(length >> 8);
  out[length_at + 1] = static_cast<uint8_t>(length);
}

DnsRr make(std::string name, uint16_t type, uint32_t ttl, DnsRdata rdata) {
  DnsRr rr;
  rr.name = std::move(name);
  rr.type = type;
  rr.ttl = ttl;
  rr.rdata = std::move(rdata);
  return rr;
}

}  // namespace

uint16_t DnsFlags::pack() const {
  return static_cast<uint16_t>((qr ? 0x8000 : 0) | (opcode & 0xF) << 11 | (aa ? 0x0400 : 0) |
                               (tc ? 0x0200 : 0) | (rd ? 0x0100 : 0) | (ra ? 0x0080 : 0) |
                               (z ? 0x0040 : 0) | (ad ? 0x0020 : 0) | (cd ? 0x0010 : 0) |
                               (rcode & 0xF));
}

DnsFlags query_flags() { return DnsFlags{}; }

DnsFlags response_flags(uint8_t rcode) {
  DnsFlags f;
  f.qr = true;
  f.ra = true;
  f.rcode = rcode;
  return f;
}

DnsRdata& DnsRdata::bytes(const Bytes& b) {
  parts.push_back({b, {}, false, true});
  return *this;
}
DnsRdata& DnsRdata::u8(uint8_t v) { return bytes(Bytes{v}); }
DnsRdata& DnsRdata::u16(uint16_t v) {
  Bytes b;
  put_u16(b, v);
  return bytes(b);
}
DnsRdata& DnsRdata::u32(uint32_t v) {
  Bytes b;
  put_u32(b, v);
  return bytes(b);
}
DnsRdata& DnsRdata::name(std::string dotted, bool compressible) {
  parts.push_back({{}, std::move(dotted), true, compressible});
  return *this;
}

DnsRr rr_a(std::string name, std::string_view ipv4, uint32_t ttl) {
  uint8_t addr[4];
  if (inet_pton(AF_INET, std::string(ipv4).c_str(), addr) != 1) {
    throw std::invalid_argument("bad IPv4 address '" + std::string(ipv4) + "'");
  }
  return make(std::move(name), dns_type::kA, ttl, DnsRdata{}.bytes(Bytes(addr, addr + 4)));
}

DnsRr rr_aaaa(std::string name, std::string_view ipv6, uint32_t ttl) {
  uint8_t addr[16];
  if (inet_pton(AF_INET6, std::string(ipv6).c_str(), addr) != 1) {
    throw std::invalid_argument("bad IPv6 address '" + std::string(ipv6) + "'");
  }
  return make(std::move(name), dns_type::kAaaa, ttl, DnsRdata{}.bytes(Bytes(addr, addr + 16)));
}

DnsRr rr_cname(std::string name, std::string target, uint32_t ttl) {
  return make(std::move(name), dns_type::kCname, ttl, DnsRdata{}.name(std::move(target)));
}
DnsRr rr_ns(std::string name, std::string host, uint32_t ttl) {
  return make(std::move(name), dns_type::kNs, ttl, DnsRdata{}.name(std::move(host)));
}
DnsRr rr_ptr(std::string name, std::string target, uint32_t ttl) {
  return make(std::move(name), dns_type::kPtr, ttl, DnsRdata{}.name(std::move(target)));
}
DnsRr rr_dname(std::string name, std::string target, uint32_t ttl) {
  // RFC 6672 §2.5: DNAME targets are not compressed.
  return make(std::move(name), dns_type::kDname, ttl, DnsRdata{}.name(std::move(target), false));
}
DnsRr rr_mx(std::string name, uint16_t preference, std::string exchange, uint32_t ttl) {
  return make(std::move(name), dns_type::kMx, ttl,
              DnsRdata{}.u16(preference).name(std::move(exchange)));
}

DnsRr rr_txt(std::string name, const std::vector<std::string>& strings, uint32_t ttl) {
  DnsRdata rdata;
  for (const std::string& s : strings) {
    if (s.size() > 255) throw std::invalid_argument("TXT string over 255 bytes");
    Bytes b{static_cast<uint8_t>(s.size())};
    b.insert(b.end(), s.begin(), s.end());
    rdata.bytes(b);
  }
  return make(std::move(name), dns_type::kTxt, ttl, std::move(rdata));
}

DnsRr rr_soa(std::string name, const DnsSoa& soa, uint32_t ttl) {
  return make(std::move(name), dns_type::kSoa, ttl,
              DnsRdata{}
                  .name(soa.mname)
                  .name(soa.rname)
                  .u32(soa.serial)
                  .u32(soa.refresh)
                  .u32(soa.retry)
                  .u32(soa.expire)
                  .u32(soa.minimum));
}

DnsRr rr_srv(std::string name, uint16_t priority, uint16_t weight, uint16_t port,
             std::string target, uint32_t ttl) {
  return make(std::move(name), dns_type::kSrv, ttl,
              DnsRdata{}.u16(priority).u16(weight).u16(port).name(std::move(target), false));
}

DnsRr rr_opt(uint16_t udp_payload_size, const std::vector<std::pair<uint16_t, Bytes>>& options,
             uint32_t ttl_field) {
  DnsRdata rdata;
  for (const auto& [code, data] : options) {
    rdata.u16(code).u16(static_cast<uint16_t>(data.size())).bytes(data);
  }
  DnsRr rr = make("", dns_type::kOpt, ttl_field, std::move(rdata));
  rr.rclass = udp_payload_size;
  return rr;
}

DnsRr rr_raw(std::string name, uint16_t type, const Bytes& rdata, uint32_t ttl) {
  return make(std::move(name), type, ttl, DnsRdata{}.bytes(rdata));
}

DnsMessageBuilder::DnsMessageBuilder(uint16_t id, DnsFlags flags) : id_(id), flags_(flags.pack()) {}

DnsMessageBuilder& DnsMessageBuilder::id(uint16_t id) {
  id_ = id;
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::flags(const DnsFlags& flags) {
  flags_ = flags.pack();
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::raw_flags(uint16_t flags) {
  flags_ = flags;
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::question(std::string name, uint16_t type, uint16_t qclass) {
  questions_.push_back({std::move(name), {}, type, qclass});
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::raw_question(Bytes wire_name, uint16_t type,
                                                   uint16_t qclass) {
  questions_.push_back({{}, std::move(wire_name), type, qclass});
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::answer(DnsRr rr) {
  sections_[0].push_back(std::move(rr));
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::authority(DnsRr rr) {
  sections_[1].push_back(std::move(rr));
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::additional(DnsRr rr) {
  sections_[2].push_back(std::move(rr));
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::compress(bool on) {
  compress_ = on;
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::counts(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  override_counts_ = true;
  counts_[0] = qd;
  counts_[1] = an;
  counts_[2] = ns;
  counts_[3] = ar;
  return *this;
}
DnsMessageBuilder& DnsMessageBuilder::trailer(const Bytes& bytes) {
  append(trailer_, bytes);
  return *this;
}

Bytes DnsMessageBuilder::build() const {
  auto count = [](size_t n) {
    if (n > 0xFFFF) throw std::invalid_argument("more than 65535 DNS entries");
    return static_cast<uint16_t>(n);
  };
  Bytes out = override_counts_
                  ? dns_header(id_, flags_, counts_[0], counts_[1], counts_[2], counts_[3])
                  : dns_header(id_, flags_, count(questions_.size()), count(sections_[0].size()),
                               count(sections_[1].size()), count(sections_[2].size()));
  NameWriter names(out, compress_);
  for (const Question& q : questions_) {
    if (q.raw_name.empty()) {
      names.write(q.name);
    } else {
      append(out, q.raw_name);
    }
    put_u16(out, q.type);
    put_u16(out, q.qclass);
  }
  for (const auto& section : sections_) {
    for (const DnsRr& rr : section) write_rr(names, out, rr);
  }
  append(out, trailer_);
  if (out.size() > 0xFFFF) throw std::invalid_argument("DNS message over 65535 bytes");
  return out;
}

Bytes dns_query(uint16_t id, std::string_view name, uint16_t type) {
  return DnsMessageBuilder(id).question(std::string(name), type).build();
}

Bytes tcp_frame(std::span<const uint8_t> message) {
  if (message.size() > 0xFFFF) throw std::invalid_argument("DNS message over 65535 bytes");
  Bytes out;
  put_u16(out, static_cast<uint16_t>(message.size()));
  append(out, message);
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) append(out, p);
  return out;
}

void put_u16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put_u32(Bytes& out, uint32_t v) {
  put_u16(out, static_cast<uint16_t>(v >> 16));
  put_u16(out, static_cast<uint16_t>(v));
}

void append(Bytes& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

Bytes dns_header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  Bytes out;
  for (const uint16_t v : {id, flags, qd, an, ns, ar}) put_u16(out, v);
  return out;
}

Bytes wire_name(std::string_view dotted) {
  Bytes out;
  NameWriter(out, false).write(dotted);
  return out;
}

Bytes wire_labels(const std::vector<std::string>& labels, bool terminate) {
  Bytes out;
  for (const std::string& l : labels) {
    if (l.size() > 255) throw std::invalid_argument("a label length octet holds at most 255");
    out.push_back(static_cast<uint8_t>(l.size()));
    out.insert(out.end(), l.begin(), l.end());
  }
  if (terminate) out.push_back(0);
  return out;
}

Bytes wire_pointer(uint16_t offset) {
  if (offset > 0x3FFF) throw std::invalid_argument("compression pointer offset over 0x3FFF");
  Bytes out;
  put_u16(out, static_cast<uint16_t>(0xC000 | offset));
  return out;
}

void put_question(Bytes& out, std::span<const uint8_t> name, uint16_t type, uint16_t qclass) {
  append(out, name);
  put_u16(out, type);
  put_u16(out, qclass);
}

void put_rr(Bytes& out, std::span<const uint8_t> name, uint16_t type, uint16_t rclass, uint32_t ttl,
            std::span<const uint8_t> rdata) {
  append(out, name);
  put_u16(out, type);
  put_u16(out, rclass);
  put_u32(out, ttl);
  put_u16(out, static_cast<uint16_t>(rdata.size()));
  append(out, rdata);
}

}  // namespace spanguard::testing
