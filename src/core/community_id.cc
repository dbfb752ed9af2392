// Community ID v1 (github.com/corelight/community-id-spec): builds the hash input on the stack,
// digests it with a per-thread SHA-1 context and renders it in base64.
#include "spanguard/core/community_id.h"

#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <memory>

namespace spanguard::core {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoSctp = 132;

constexpr size_t kSha1Length = 20;
constexpr size_t kBase64Sha1Length = 28;  // 4 * ceil(20 / 3), '=' padded
static_assert(kCommunityIdV1Length == 2 + kBase64Sha1Length);

// seed (2) + two IPv6 addresses (32) + proto (1) + padding (1) + two ports (4).
constexpr size_t kMaxHashInput = 2 + 16 + 16 + 1 + 1 + 2 + 2;

// The spec takes its ICMP handling from Zeek: a request/reply pair hashes as (type, counterpart
// type), so both halves form one bidirectional flow. Each pair is listed in both directions.
struct IcmpPair {
  uint8_t type;
  uint8_t counterpart;
};

constexpr IcmpPair kIcmpPairs[] = {
    {8, 0},   {0, 8},    // echo request, echo reply
    {13, 14}, {14, 13},  // timestamp, timestamp reply
    {15, 16}, {16, 15},  // information request, information reply
    {10, 9},  {9, 10},   // router solicitation, router advertisement
    {17, 18}, {18, 17},  // address mask request, address mask reply
};

constexpr IcmpPair kIcmpv6Pairs[] = {
    {128, 129}, {129, 128},  // echo request, echo reply
    {130, 131}, {131, 130},  // multicast listener query, report
    {133, 134}, {134, 133},  // router solicitation, router advertisement
    {135, 136}, {136, 135},  // neighbour solicitation, neighbour advertisement
    {139, 140}, {140, 139},  // node information query, reply
    {144, 145}, {145, 144},  // home agent address discovery request, reply
};

// The counterpart of `type`, or -1 when it has none (a one-way message such as an error).
int icmp_counterpart(std::span<const IcmpPair> pairs, uint16_t type) {
  for (const IcmpPair& pair : pairs) {
    if (pair.type == type) return pair.counterpart;
  }
  return -1;
}

struct MdDeleter {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Fetched once: EVP_sha1() would repeat the provider lookup (and its lock) on every init.
const EVP_MD* sha1() {
  static const std::unique_ptr<EVP_MD, MdDeleter> md(EVP_MD_fetch(nullptr, "SHA1", nullptr));
  return md.get();
}

bool sha1_digest(const uint8_t* data, size_t length, uint8_t (&digest)[kSha1Length]) {
  thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = sha1();
  if (ctx == nullptr || md == nullptr) return false;
  unsigned int digest_length = 0;
  return EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
         EVP_DigestUpdate(ctx.get(), data, length) == 1 &&
         EVP_DigestFinal_ex(ctx.get(), digest, &digest_length) == 1 && digest_length == kSha1Length;
}

}  // namespace

bool community_id_v1(std::span<char, kCommunityIdV1Length> out, const IpAddress& a, uint16_t port_a,
                     const IpAddress& b, uint16_t port_b, uint8_t proto, uint16_t seed) {
  if (a.family() == 0 || a.family() != b.family()) return false;

  bool has_ports = false;
  bool one_way = false;
  switch (proto) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoSctp:
      has_ports = true;
      break;
    case kProtoIcmp:
    case kProtoIcmpv6: {
      has_ports = true;
      const int counterpart = proto == kProtoIcmp ? icmp_counterpart(kIcmpPairs, port_a)
                                                  : icmp_counterpart(kIcmpv6Pairs, port_a);
      if (counterpart < 0) {
        one_way = true;  // (type, code), hashed in the direction seen
      } else {
        port_b = static_cast<uint16_t>(counterpart);
      }
      break;
    }
    default:
      break;  // other IP protocols: addresses and protocol only
  }

  // The smaller address (compared as network-order bytes) goes first, its port with it; equal
  // addresses leave the order to the ports. One-way ICMP keeps the direction it was seen in.
  const size_t addr_length = a.size();
  const int addr_order = std::memcmp(a.bytes(), b.bytes(), addr_length);
  const bool keep = one_way || addr_order < 0 || (addr_order == 0 && has_ports && port_a < port_b);
  const IpAddress& first = keep ? a : b;
  const IpAddress& second = keep ? b : a;
  const uint16_t first_port = keep ? port_a : port_b;
  const uint16_t second_port = keep ? port_b : port_a;

  std::array<uint8_t, kMaxHashInput> input;
  size_t n = 0;
  auto put16 = [&](uint16_t v) {
    input[n++] = static_cast<uint8_t>(v >> 8);
    input[n++] = static_cast<uint8_t>(v);
  };
  put16(seed);
  std::memcpy(&input[n], first.bytes(), addr_length);
  n += addr_length;
  std::memcpy(&input[n], second.bytes(), addr_length);
  n += addr_length;
  input[n++] = proto;
  input[n++] = 0;  // padding: keeps the ports 32-bit aligned
  if (has_ports) {
    put16(first_port);
    put16(second_port);
  }

  uint8_t digest[kSha1Length];
  if (!sha1_digest(input.data(), n, digest)) return false;

  // EVP_EncodeBlock writes a NUL after the 28 characters, hence the extra byte.
  unsigned char encoded[kBase64Sha1Length + 1];
  if (EVP_EncodeBlock(encoded, digest, kSha1Length) != static_cast<int>(kBase64Sha1Length)) {
    return false;
  }
  out[0] = '1';
  out[1] = ':';
  std::memcpy(out.data() + 2, encoded, kBase64Sha1Length);
  return true;
}

std::string community_id_v1(const IpAddress& a, uint16_t port_a, const IpAddress& b,
                            uint16_t port_b, uint8_t proto, uint16_t seed) {
  std::array<char, kCommunityIdV1Length> buffer;
  if (!community_id_v1(buffer, a, port_a, b, port_b, proto, seed)) return {};
  return std::string(buffer.data(), buffer.size());
}

}  // namespace spanguard::core
