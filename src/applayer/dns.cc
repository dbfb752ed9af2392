// DNS message parsing (RFC 1035 §4.1): names decompressed under the §4.1.4 rules with every
// hostile case bounded, rdata rendered per type, TCP length framing with resynchronisation after
// gaps, detection probes, and Suricata's EVE text tables.
#include "spanguard/applayer/dns.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace spanguard::applayer::dns {

namespace {

using DC = DnsCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"queries", "DNS messages with QR clear"},
    {"responses", "DNS messages with QR set"},
    {"malformed", "DNS messages with at least one malformation"},
    {"malformed.truncated_header", "DNS messages shorter than the 12-byte header"},
    {"malformed.bad_name", "DNS names running past the message, or pointing outside it"},
    {"malformed.pointer_loop", "DNS compression pointers not moving strictly backwards"},
    {"malformed.label_too_long", "DNS labels over 63 bytes (label types 0x40 and 0x80)"},
    {"malformed.name_too_long", "DNS names over 255 octets once decompressed"},
    {"malformed.count_mismatch", "DNS messages ending before the entries their header counts"},
    {"malformed.bad_rdata", "DNS rdata not laid out as its type defines"},
    {"anomaly.too_many_records", "DNS messages with more entries than the limits keep"},
    {"anomaly.trailing_data", "DNS messages with bytes after their last record"},
    {"anomaly.z_flag_set", "DNS messages with the reserved Z bit set"},
    {"anomaly.invalid_opcode", "DNS messages with an unassigned opcode"},
    {"tcp.messages", "DNS messages framed out of TCP streams"},
    {"tcp.framing_errors", "DNS over TCP length prefixes under 12 or over the maximum"},
    {"tcp.gaps", "capture gaps in DNS over TCP streams"},
    {"tcp.resyncs", "DNS over TCP framing found again after a gap or framing error"},
    {"tcp.skipped_bytes", "DNS over TCP bytes dropped while the message boundary was unknown"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(DC::kCount));
constexpr core::CounterGroup kCounterGroup{"dns", kCounterDefs};

constexpr std::string_view kAnomalyNames[] = {
    "truncated_header", "bad_name",       "pointer_loop",   "label_too_long",
    "name_too_long",    "count_mismatch", "bad_rdata",      "too_many_records",
    "trailing_data",    "z_flag_set",     "invalid_opcode",
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(Anomaly::kCount));

constexpr size_t kKeptCapacity = 1024;     // a string larger than this is released by clear()
constexpr size_t kKeptFrameBuffer = 4096;  // TcpFramer buffer kept between messages
constexpr uint16_t kProbeMaxQuestions = 4;
constexpr size_t kMinQuestion = 5;  // root name + type + class
constexpr size_t kMinRecord = 11;   // root name + type + class + ttl + rdlength

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

void clear_keeping(std::string& s) {
  if (s.capacity() > kKeptCapacity) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}

void empty_strings(Question& q) { clear_keeping(q.name); }

void empty_strings(Record& r) {
  clear_keeping(r.name);
  clear_keeping(r.text);
  clear_keeping(r.soa.mname);
  clear_keeping(r.soa.rname);
  if (r.pieces.capacity() * sizeof(Piece) > kKeptCapacity) {
    std::vector<Piece>().swap(r.pieces);
  } else {
    r.pieces.clear();
  }
}

// ---- names ------------------------------------------------------------------------------------

struct NameRead {
  size_t next = 0;         // stream position after the name (valid when `synced`)
  uint32_t anomalies = 0;  // name anomalies met
  bool synced = true;      // the name's end in the stream is known
};

// Reads the name at `pos` of `msg`; its uncompressed part must lie before `end` (the message end,
// or the end of the rdata holding it). Appends the text to `out` unless it is null. RFC 1035
// §4.1.4: a pointer must point to a prior occurrence, which we hold to strictly below where the
// current run of labels started (BIND's rule too): loops become impossible, and the work is
// bounded by the 255 octets of the expanded name and kMaxPointerHops.
NameRead read_name(std::span<const uint8_t> msg, size_t pos, size_t end, std::string* out) {
  NameRead r;
  size_t p = pos;
  size_t limit = end;  // where the current run must stop
  size_t bound = pos;  // a pointer must target below this
  size_t wire = 1;     // expanded length on the wire, the final root octet included
  size_t hops = 0;
  bool jumped = false;  // a pointer was followed: r.next is known
  bool keep = out != nullptr;
  for (;;) {
    if (p >= limit) {
      r.anomalies |= bit(Anomaly::kBadName);
      r.synced = jumped;
      return r;
    }
    const uint8_t b = msg[p];
    if (b == 0) {
      if (!jumped) r.next = p + 1;
      return r;
    }
    if ((b & 0xC0) == 0xC0) {
      if (p + 1 >= limit) {
        r.anomalies |= bit(Anomaly::kBadName);
        r.synced = jumped;
        return r;
      }
      const size_t target = static_cast<size_t>(b & 0x3F) << 8 | msg[p + 1];
      if (!jumped) {
        r.next = p + 2;  // a pointer ends the name in the stream, whatever it leads to
        jumped = true;
      }
      if (!keep) return r;  // the end is known and no more text is wanted
      if (target >= msg.size()) {
        r.anomalies |= bit(Anomaly::kBadName);
        return r;
      }
      if (target >= bound || ++hops > kMaxPointerHops) {
        r.anomalies |= bit(Anomaly::kPointerLoop);
        return r;
      }
      bound = target;
      p = target;
      limit = msg.size();
      continue;
    }
    if (b & 0xC0) {
      r.anomalies |= bit(Anomaly::kLabelTooLong);
      r.synced = jumped;
      return r;
    }
    if (p + 1 + b > limit) {
      r.anomalies |= bit(Anomaly::kBadName);
      r.synced = jumped;
      return r;
    }
    wire += 1 + size_t{b};
    if (wire > kMaxNameWire) {
      r.anomalies |= bit(Anomaly::kNameTooLong);
      // After a pointer the stream end is known: stop. Before, walk on (linearly) to find it.
      if (jumped) return r;
      keep = false;
    }
    if (keep) {
      if (!out->empty()) out->push_back('.');
      out->append(reinterpret_cast<const char*>(msg.data()) + p + 1, b);
    }
    p += 1 + size_t{b};
  }
}

// ---- addresses and rdata ----------------------------------------------------------------------

void append_uint(std::string& out, uint32_t v) {
  std::array<char, 10> buf;
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), res.ptr);
}

void append_ipv4(std::string& out, const uint8_t* a) {
  for (int i = 0; i < 4; ++i) {
    if (i) out.push_back('.');
    append_uint(out, a[i]);
  }
}

constexpr bool is_name_type(uint16_t t) {
  return t == kTypeCname || t == kTypeNs || t == kTypePtr || t == kTypeDname || t == kTypeMb ||
         t == kTypeMg || t == kTypeMr || t == kTypeMd || t == kTypeMf;
}

// Fills the rendered fields of `r` from the rdata at [b, e). Returns the anomalies to add.
uint32_t render_rdata(std::span<const uint8_t> msg, size_t b, size_t e, Record& r) {
  const size_t n = e - b;
  const uint8_t* d = msg.data() + b;
  uint32_t anomalies = 0;
  auto bad = [&](uint32_t why) {
    r.rdata_ok = false;
    anomalies |= why;
  };
  // A name inside the rdata; false (and the rdata flagged) when it has an anomaly.
  auto name_at = [&](size_t at, std::string& text, size_t& next) {
    const NameRead nr = read_name(msg, at, e, &text);
    if (nr.anomalies) bad(nr.anomalies);
    next = nr.next;
    return nr.anomalies == 0;
  };
  size_t next = 0;
  switch (r.type) {
    case kTypeA:
      if (n == 4) {
        append_ipv4(r.text, d);
      } else {
        bad(bit(Anomaly::kBadRdata));
      }
      break;
    case kTypeAaaa:
      if (n == 16) {
        append_ipv6(r.text, d);
      } else {
        bad(bit(Anomaly::kBadRdata));
      }
      break;
    case kTypeMx:
      if (n < 3) {
        bad(bit(Anomaly::kBadRdata));
        break;
      }
      r.preference = be16(d);
      if (name_at(b + 2, r.text, next) && next != e) bad(bit(Anomaly::kBadRdata));
      break;
    case kTypeSrv:
      if (n < 7) {
        bad(bit(Anomaly::kBadRdata));
        break;
      }
      r.srv = {be16(d), be16(d + 2), be16(d + 4)};
      if (name_at(b + 6, r.text, next) && next != e) bad(bit(Anomaly::kBadRdata));
      break;
    case kTypeSoa: {
      if (!name_at(b, r.soa.mname, next)) break;
      r.text = r.soa.mname;
      if (!name_at(next, r.soa.rname, next)) break;
      if (e - next != 20) {
        bad(bit(Anomaly::kBadRdata));
        break;
      }
      const uint8_t* f = msg.data() + next;
      r.soa.serial = be32(f);
      r.soa.refresh = be32(f + 4);
      r.soa.retry = be32(f + 8);
      r.soa.expire = be32(f + 12);
      r.soa.minimum = be32(f + 16);
      break;
    }
    case kTypeTxt: {
      // One or more <character-string>s filling the rdata exactly (RFC 1035 §3.3.14).
      if (n == 0) bad(bit(Anomaly::kBadRdata));
      size_t p = b;
      while (p < e) {
        const size_t len = msg[p];
        if (p + 1 + len > e) {
          bad(bit(Anomaly::kBadRdata));
          break;
        }
        r.pieces.push_back({static_cast<uint16_t>(p + 1), static_cast<uint16_t>(len), 0});
        r.text.append(reinterpret_cast<const char*>(msg.data()) + p + 1, len);
        p += 1 + len;
      }
      break;
    }
    case kTypeOpt: {
      // {code, length, data} options filling the rdata exactly (RFC 6891 §6.1.2).
      size_t p = b;
      while (p < e) {
        if (e - p < 4 || 4 + size_t{be16(msg.data() + p + 2)} > e - p) {
          bad(bit(Anomaly::kBadRdata));
          break;
        }
        const uint16_t len = be16(msg.data() + p + 2);
        r.pieces.push_back({static_cast<uint16_t>(p + 4), len, be16(msg.data() + p)});
        p += 4 + size_t{len};
      }
      break;
    }
    default:
      if (is_name_type(r.type) && name_at(b, r.text, next) && next != e) {
        bad(bit(Anomaly::kBadRdata));
      }
      break;
  }
  return anomalies;
}

// ---- UTF-8 ------------------------------------------------------------------------------------

// RFC 3629 §4: no overlong forms, no surrogates, nothing over U+10FFFF.
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += len;
  }
  return true;
}

// ---- probes -----------------------------------------------------------------------------------

bool probe_class(uint16_t c) {
  c &= 0x7FFF;  // mDNS unicast-response bit (RFC 6762 §5.4)
  return c == 1 || c == 3 || c == 4 || c == 254 || c == 255;
}

// `msg` is the message as far as it has arrived; `size` its full length.
Probe probe_message(std::span<const uint8_t> msg, size_t size, bool* response) {
  if (size < kHeaderSize + kMinQuestion) return Probe::kNo;
  if (msg.size() < kHeaderSize) return Probe::kNeedMore;
  Header h;
  decode_header(msg, h);
  if (!opcode_assigned(h.opcode)) return Probe::kNo;
  if (!h.qr && h.rcode != 0) return Probe::kNo;
  if (h.qdcount == 0 || h.qdcount > kProbeMaxQuestions) return Probe::kNo;
  const size_t records = size_t{h.ancount} + h.nscount + h.arcount;
  if (kHeaderSize + kMinQuestion * h.qdcount + kMinRecord * records > size) return Probe::kNo;
  // The first question name: plain labels (nothing precedes it to point to).
  size_t p = kHeaderSize, wire = 1;
  for (;;) {
    if (p >= size) return Probe::kNo;
    if (p >= msg.size()) return Probe::kNeedMore;
    const uint8_t len = msg[p];
    if (len == 0) break;
    if (len > kMaxLabel) return Probe::kNo;
    wire += 1 + size_t{len};
    if (wire > kMaxNameWire) return Probe::kNo;
    p += 1 + size_t{len};
  }
  ++p;
  if (p + 4 > size) return Probe::kNo;
  if (p + 4 > msg.size()) return Probe::kNeedMore;
  if (be16(msg.data() + p) == 0 || !probe_class(be16(msg.data() + p + 2))) return Probe::kNo;
  if (response) *response = h.qr;
  return Probe::kYes;
}

// Suricata's rrtype text (rust/src/dns/log.rs, dns_rrtype_string), its spellings kept: MD is
// "ND", NSAP-PTR "NSAPPT", CDNSKEY "CDSNKEY"; SVCB (64) is not in it and prints as a number.
// Sorted by type.
struct RrtypeName {
  uint16_t type;
  std::string_view name;
};
constexpr RrtypeName kRrtypeNames[] = {
    {1, "A"},      {2, "NS"},        {3, "ND"},          {4, "MF"},     {5, "CNAME"},
    {6, "SOA"},    {7, "MB"},        {8, "MG"},          {9, "MR"},     {10, "NULL"},
    {11, "WKS"},   {12, "PTR"},      {13, "HINFO"},      {14, "MINFO"}, {15, "MX"},
    {16, "TXT"},   {17, "RP"},       {18, "AFSDB"},      {19, "X25"},   {20, "ISDN"},
    {21, "RT"},    {22, "NSAP"},     {23, "NSAPPT"},     {24, "SIG"},   {25, "KEY"},
    {26, "PX"},    {27, "GPOS"},     {28, "AAAA"},       {29, "LOC"},   {30, "NXT"},
    {33, "SRV"},   {34, "ATMA"},     {35, "NAPTR"},      {36, "KX"},    {37, "CERT"},
    {38, "A6"},    {39, "DNAME"},    {41, "OPT"},        {42, "APL"},   {43, "DS"},
    {44, "SSHFP"}, {45, "IPSECKEY"}, {46, "RRSIG"},      {47, "NSEC"},  {48, "DNSKEY"},
    {49, "DHCID"}, {50, "NSEC3"},    {51, "NSEC3PARAM"}, {52, "TLSA"},  {55, "HIP"},
    {59, "CDS"},   {60, "CDSNKEY"},  {65, "HTTPS"},      {99, "SPF"},   {249, "TKEY"},
    {250, "TSIG"}, {254, "MAILA"},   {255, "ANY"},       {256, "URI"}};
static_assert(std::is_sorted(std::begin(kRrtypeNames), std::end(kRrtypeNames),
                             [](const RrtypeName& a, const RrtypeName& b) {
                               return a.type < b.type;
                             }));

constexpr std::string_view kRcodeNames[] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",         "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",        "",
    "",         "",        "",         "",         "BADVERS/BADSIG", "BADKEY",
    "BADTIME",  "BADMODE", "BADNAME",  "BADALG",   "BADTRUNC",
};

}  // namespace

// ---- public -----------------------------------------------------------------------------------

std::string_view anomaly_name(Anomaly a) {
  return a < Anomaly::kCount ? kAnomalyNames[static_cast<size_t>(a)] : std::string_view{};
}

const core::CounterGroup& dns_counter_group() { return kCounterGroup; }

bool decode_header(std::span<const uint8_t> data, Header& out) {
  if (data.size() < kHeaderSize) return false;
  const uint8_t* d = data.data();
  out.id = be16(d);
  out.flags = be16(d + 2);
  const uint16_t f = out.flags;
  out.qr = f & 0x8000;
  out.opcode = static_cast<uint8_t>((f >> 11) & 0xF);
  out.aa = f & 0x0400;
  out.tc = f & 0x0200;
  out.rd = f & 0x0100;
  out.ra = f & 0x0080;
  out.z = f & 0x0040;
  out.ad = f & 0x0020;
  out.cd = f & 0x0010;
  out.rcode = static_cast<uint8_t>(f & 0xF);
  out.qdcount = be16(d + 4);
  out.ancount = be16(d + 6);
  out.nscount = be16(d + 8);
  out.arcount = be16(d + 10);
  return true;
}

const Record* Message::opt() const {
  for (const Record& r : additionals()) {
    if (r.type == kTypeOpt) return &r;
  }
  return nullptr;
}

void Message::clear() {
  for (size_t i = 0; i < n_questions_; ++i) empty_strings(questions_[i]);
  for (size_t i = 0; i < n_records_; ++i) empty_strings(records_[i]);
  header = Header{};
  anomalies = 0;
  header_ok = complete = false;
  skipped = 0;
  wire_.clear();
  n_questions_ = n_records_ = answers_end_ = authorities_end_ = 0;
}

size_t Message::memory_bytes() const {
  size_t n = wire_.capacity() + questions_.capacity() * sizeof(Question) +
             records_.capacity() * sizeof(Record);
  for (const Question& q : questions_) n += q.name.capacity();
  for (const Record& r : records_) {
    n += r.name.capacity() + r.text.capacity() + r.soa.mname.capacity() + r.soa.rname.capacity() +
         r.pieces.capacity() * sizeof(Piece);
  }
  return n;
}

Question& Message::next_question() {
  if (n_questions_ == questions_.size()) questions_.emplace_back();
  // Emptied again: a slot given back by the parser (an entry cut short) may hold text.
  Question& q = questions_[n_questions_++];
  empty_strings(q);
  q.type = q.qclass = 0;
  q.name_ok = true;
  return q;
}

Record& Message::next_record() {
  if (n_records_ == records_.size()) records_.emplace_back();
  Record& r = records_[n_records_++];
  empty_strings(r);
  r.type = r.rclass = 0;
  r.ttl = 0;
  r.rdata_offset = r.rdata_length = 0;
  r.name_ok = r.rdata_ok = true;
  r.preference = 0;
  r.srv = {};
  r.soa.serial = r.soa.refresh = r.soa.retry = r.soa.expire = r.soa.minimum = 0;
  return r;
}

uint32_t parse_message(std::span<const uint8_t> data, Message& out, const Limits& limits) {
  out.clear();
  if (data.size() > kMaxMessageSize) {
    out.anomalies |= bit(Anomaly::kTrailingData);
    data = data.first(kMaxMessageSize);
  }
  out.wire_.assign(data.begin(), data.end());
  const std::span<const uint8_t> msg = out.wire();
  if (!decode_header(msg, out.header)) {
    out.anomalies |= bit(Anomaly::kTruncatedHeader);
    return out.anomalies;
  }
  out.header_ok = true;
  const Header& h = out.header;
  if (h.z) out.anomalies |= bit(Anomaly::kZFlagSet);
  if (!opcode_assigned(h.opcode)) out.anomalies |= bit(Anomaly::kInvalidOpcode);

  const size_t size = msg.size();
  size_t pos = kHeaderSize;
  // Entries run out before the counts do: the message is short (or its end is no longer known).
  auto short_message = [&] {
    out.anomalies |= bit(Anomaly::kCountMismatch);
    return out.anomalies;
  };

  for (uint32_t i = 0; i < h.qdcount; ++i) {
    if (pos >= size) return short_message();
    const bool keep = i < limits.max_questions;
    Question* q = keep ? &out.next_question() : nullptr;
    const NameRead nr = read_name(msg, pos, size, q ? &q->name : nullptr);
    out.anomalies |= nr.anomalies;
    if (!nr.synced) {
      if (q) q->name_ok = false;
      return out.anomalies;
    }
    if (nr.next + 4 > size) {
      if (q) --out.n_questions_;
      return short_message();
    }
    if (q) {
      q->name_ok = nr.anomalies == 0;
      q->type = be16(msg.data() + nr.next);
      q->qclass = be16(msg.data() + nr.next + 2);
    } else {
      ++out.skipped;
      out.anomalies |= bit(Anomaly::kTooManyRecords);
    }
    pos = nr.next + 4;
  }

  const uint16_t counts[3] = {h.ancount, h.nscount, h.arcount};
  const uint32_t caps[3] = {limits.max_answers, limits.max_authorities, limits.max_additionals};
  // A section's end is where the records stop, also when a return cuts the parse short.
  auto close_sections = [&](int s) {
    if (s <= 0) out.answers_end_ = out.n_records_;
    if (s <= 1) out.authorities_end_ = out.n_records_;
  };
  for (int s = 0; s < 3; ++s) {
    for (uint32_t i = 0; i < counts[s]; ++i) {
      if (pos >= size) {
        close_sections(s);
        return short_message();
      }
      const bool keep = i < caps[s];
      Record* r = keep ? &out.next_record() : nullptr;
      const NameRead nr = read_name(msg, pos, size, r ? &r->name : nullptr);
      out.anomalies |= nr.anomalies;
      if (!nr.synced) {
        if (r) r->name_ok = false;  // kept: the owner name is what an IDS may match on
        close_sections(s);
        return out.anomalies;
      }
      const size_t fixed = nr.next;
      if (fixed + 10 > size || fixed + 10 + be16(msg.data() + fixed + 8) > size) {
        if (r) --out.n_records_;
        close_sections(s);
        return short_message();
      }
      const size_t rdlength = be16(msg.data() + fixed + 8);
      const size_t b = fixed + 10;
      if (r) {
        r->name_ok = nr.anomalies == 0;
        r->type = be16(msg.data() + fixed);
        r->rclass = be16(msg.data() + fixed + 2);
        r->ttl = be32(msg.data() + fixed + 4);
        r->rdata_offset = static_cast<uint16_t>(b);
        r->rdata_length = static_cast<uint16_t>(rdlength);
        out.anomalies |= render_rdata(msg, b, b + rdlength, *r);
      } else {
        ++out.skipped;
        out.anomalies |= bit(Anomaly::kTooManyRecords);
      }
      pos = b + rdlength;
    }
    close_sections(s);
  }
  out.complete = true;
  if (pos < size) out.anomalies |= bit(Anomaly::kTrailingData);
  return out.anomalies;
}

void count_message(const Message& m, core::Counters<DnsCounter>& counters) {
  if (m.header_ok) counters.inc(m.header.qr ? DC::kResponses : DC::kQueries);
  if (m.malformed()) counters.inc(DC::kMalformed);
  for (size_t a = 0; a < static_cast<size_t>(Anomaly::kCount); ++a) {
    if (m.anomalies >> a & 1) counters.inc(anomaly_counter(static_cast<Anomaly>(a)));
  }
}

// ---- TCP framing ------------------------------------------------------------------------------

TcpFramer::TcpFramer(core::Counters<DnsCounter>& counters, uint32_t max_message)
    : counters_(counters),
      max_message_(std::clamp<uint32_t>(max_message, kHeaderSize, kMaxMessageSize)) {}

void TcpFramer::reset() {
  state_ = State::kLength;
  prefix_len_ = 0;
  need_ = 0;
  std::vector<uint8_t>().swap(body_);
}

void TcpFramer::lose() {
  state_ = State::kLost;
  prefix_len_ = 0;
  need_ = 0;
  std::vector<uint8_t>().swap(body_);
}

void TcpFramer::on_gap() {
  counters_.inc(DC::kTcpGaps);
  lose();
}

void TcpFramer::feed_impl(std::span<const uint8_t> data, Sink sink, void* ctx) {
  const uint8_t* p = data.data();
  const uint8_t* const end = p + data.size();
  if (state_ == State::kLost && !data.empty()) {
    if (probe_tcp(data) != Probe::kYes) {
      counters_.inc(DC::kTcpSkippedBytes, data.size());
      return;
    }
    counters_.inc(DC::kTcpResyncs);
    state_ = State::kLength;
  }
  while (p < end) {
    if (state_ == State::kLength) {
      uint32_t length;
      if (prefix_len_ == 0 && end - p >= 2) {
        length = be16(p);
        p += 2;
      } else {
        prefix_[prefix_len_++] = *p++;
        if (prefix_len_ < 2) continue;
        length = be16(prefix_);
        prefix_len_ = 0;
      }
      if (length < kHeaderSize || length > max_message_) {
        counters_.inc(DC::kTcpFramingErrors);
        lose();
        counters_.inc(DC::kTcpSkippedBytes, static_cast<uint64_t>(end - p));
        return;
      }
      need_ = length;
      state_ = State::kBody;
      continue;
    }
    // kBody: whole in the caller's buffer, or collected across calls.
    const size_t avail = static_cast<size_t>(end - p);
    if (body_.empty() && avail >= need_) {
      counters_.inc(DC::kTcpMessages);
      state_ = State::kLength;
      sink(ctx, {p, need_});
      p += need_;
      continue;
    }
    const size_t take = std::min(avail, need_ - body_.size());
    body_.insert(body_.end(), p, p + take);
    p += take;
    if (body_.size() == need_) {
      counters_.inc(DC::kTcpMessages);
      state_ = State::kLength;
      sink(ctx, {body_.data(), body_.size()});
      if (body_.capacity() > kKeptFrameBuffer) {
        std::vector<uint8_t>().swap(body_);
      } else {
        body_.clear();
      }
    }
  }
}

// ---- probes -----------------------------------------------------------------------------------

Probe probe_udp(std::span<const uint8_t> payload, bool* response) {
  const Probe p = probe_message(payload, payload.size(), response);
  return p == Probe::kNeedMore ? Probe::kNo : p;
}

Probe probe_tcp(std::span<const uint8_t> stream_start, bool* response) {
  if (stream_start.size() < 2) return Probe::kNeedMore;
  const size_t length = be16(stream_start.data());
  const std::span<const uint8_t> msg = stream_start.subspan(2);
  return probe_message(msg.first(std::min(msg.size(), length)), length, response);
}

// ---- EVE text ---------------------------------------------------------------------------------

std::string_view rrtype_name(uint16_t type) {
  const auto* it = std::lower_bound(std::begin(kRrtypeNames), std::end(kRrtypeNames), type,
                                    [](const RrtypeName& e, uint16_t t) { return e.type < t; });
  return it != std::end(kRrtypeNames) && it->type == type ? it->name : std::string_view{};
}

void append_rrtype(std::string& out, uint16_t type) {
  const std::string_view name = rrtype_name(type);
  if (name.empty()) {
    append_uint(out, type);
  } else {
    out.append(name);
  }
}

std::string_view rcode_name(uint16_t rcode) {
  return rcode < std::size(kRcodeNames) ? kRcodeNames[rcode] : std::string_view{};
}

void append_rcode(std::string& out, uint16_t rcode) {
  const std::string_view name = rcode_name(rcode);
  if (name.empty()) {
    append_uint(out, rcode);
  } else {
    out.append(name);
  }
}

void append_eve_text(std::string& out, std::string_view raw) {
  // Suricata's JsonBuilder::set_string_from_bytes (rust/src/jsonbuilder.rs).
  if (valid_utf8(raw)) {
    out.append(raw);
    return;
  }
  constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : raw) {
    const auto c = static_cast<uint8_t>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xF]};
      out.append(esc, 4);
    }
  }
}

void append_ipv6(std::string& out, const uint8_t* addr) {
  // RFC 5952 §4: lower-case hex without leading zeros, the longest run of two or more zero
  // groups (the first of equal runs) as "::".
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(addr, kMappedPrefix, sizeof kMappedPrefix) == 0) {
    out.append("::ffff:");  // RFC 5952 §5: IPv4-mapped addresses in mixed notation
    append_ipv4(out, addr + 12);
    return;
  }
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = be16(addr + 2 * i);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
    i = j;
  }
  constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out.append("::");
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) out.push_back(':');
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int nib = (g[i] >> shift) & 0xF;
      if (nib || started || shift == 0) {
        out.push_back(kHex[nib]);
        started = true;
      }
    }
  }
}

}  // namespace spanguard::applayer::dns
