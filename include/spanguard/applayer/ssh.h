// SSH for both directions of one TCP flow: each side's identification line (RFC 4253 §4.2), the
// clear-text binary packets of the first key exchange (§6), the KEXINIT algorithm lists (§7.1)
// hashed into hassh / hasshServer, and the NEWKEYS after which a side is encrypted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "spanguard/applayer/side.h"
#include "spanguard/core/counters.h"

namespace spanguard::applayer::ssh {

// Every limit bounds memory: a flow holds at most one identification line and one KEXINIT packet
// per side, plus the session's strings.
struct Limits {
  uint32_t max_banner_length = 255;       // RFC 4253 §4.2: the line with its CR LF; longer is kept
                                          // truncated and flagged
  uint32_t max_lines_before_banner = 64;  // other lines a side may send first (RFC 4253 §4.2 allows
                                          // them from the server): more and the side is given up
  uint32_t max_kexinit_length = 64 * 1024;  // KEXINIT payload buffered for hassh; larger: skipped
};

// kBanner: the side's identification line was parsed (Endpoint::proto_version etc. are set).
// kKexInit: the side's first KEXINIT was parsed (hassh set). kNewKeys: the side sent NEWKEYS, its
// later bytes are encrypted. kEncrypted: both sides are: nothing more will be parsed (the flow may
// be bypassed).
enum class Event : uint8_t { kBanner, kKexInit, kNewKeys, kEncrypted };

// Protocol anomalies, one bit each in Endpoint::anomalies and one counter each
// ("ssh.anomaly.<name>").
enum class Anomaly : uint8_t {
  kBannerTooLong,        // identification line over Limits::max_banner_length: kept truncated
  kInvalidBanner,        // "SSH-" without "-" after the protocol version: side given up
  kLineBeforeBanner,     // a client line before its identification (only servers may send them)
  kTooManyLines,         // over Limits::max_lines_before_banner lines without "SSH-": given up
  kInvalidPacketLength,  // packet_length < 2, over 256 KiB, or padding not within it: given up
  kKexInitTooLong,       // KEXINIT over Limits::max_kexinit_length: skipped, no hassh
  kInvalidKexInit,       // KEXINIT whose name-lists do not fit the packet: no hassh
  kGap,                  // bytes lost before the side was encrypted: side given up
  kTruncated,            // the flow ended inside a line or packet
  kCount
};
constexpr uint32_t bit(Anomaly a) { return uint32_t{1} << static_cast<unsigned>(a); }
std::string_view anomaly_name(Anomaly a);  // "banner_too_long", ...

// One side of the connection as the bytes showed it. Strings are bytes as sent.
struct Endpoint {
  bool banner_done = false;
  std::string banner;  // the identification line without CR LF, up to the limit
  // Suricata's ssh.proto and ssh.software (EVE ssh.<side>.proto_version / software_version): the
  // banner's "SSH-protoversion-softwareversion SP comments" split as Suricata's parser does: the
  // protocol version runs to the first "-", the software version from there to the first SP, CR
  // or LF; the comments are in neither.
  std::string proto_version;     // "2.0", "1.99"
  std::string software_version;  // "OpenSSH_9.6p1"
  bool kexinit_done = false;
  // hassh (client) / hasshServer (server): "kex;enc;mac;comp" with the client_to_server lists for
  // the client and the server_to_client lists for the server, and its MD5 in lower-case hex
  // (EVE ssh.<side>.hassh.string / .hash, keywords hassh(.string), hasshServer(.string)).
  std::string hassh_string;
  std::string hassh;
  bool new_keys = false;   // NEWKEYS sent: everything after it is encrypted
  uint32_t anomalies = 0;  // bit set of Anomaly
};

struct Session {
  Endpoint client, server;
  bool encrypted = false;  // both sides sent NEWKEYS

  const Endpoint& endpoint(Side side) const { return side == Side::kClient ? client : server; }
};

// Called synchronously from parse()/on_gap()/on_end(); must not call back into the Parser.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_ssh(const Session& session, Side side, Event event) = 0;
};

// "SSH-" at the start of a direction (as Suricata's detection pattern): kYes with no side, both
// ends send one. A server's lines before its identification are not looked through.
ProbeResult probe_ssh(std::span<const uint8_t> first_bytes);

// MD5 of `text` as 32 lower-case hex digits (OpenSSL EVP): the hassh of a hassh string.
std::string md5_hex(std::string_view text);

enum class SshCounter : uint16_t {
  kBanners,
  kProtocol1,  // identification lines of protocol 1.x (not 1.99): binary packets not parsed
  kPackets,    // clear-text binary packets parsed
  kKexInits,
  kNewKeys,
  kEncrypted,  // flows where both sides became encrypted
  kGaps,
  // One per Anomaly, in its order.
  kAnomalyBannerTooLong,
  kAnomalyInvalidBanner,
  kAnomalyLineBeforeBanner,
  kAnomalyTooManyLines,
  kAnomalyInvalidPacketLength,
  kAnomalyKexInitTooLong,
  kAnomalyInvalidKexInit,
  kAnomalyGap,
  kAnomalyTruncated,
  kCount
};
static_assert(static_cast<int>(SshCounter::kAnomalyTruncated) -
                      static_cast<int>(SshCounter::kAnomalyBannerTooLong) + 1 ==
                  static_cast<int>(Anomaly::kCount),
              "one counter per anomaly");
const core::CounterGroup& ssh_counter_group();  // module "ssh"

class Parser {  // one per flow; both directions
 public:
  Parser(const Limits& limits, Observer& observer, core::Counters<SshCounter>& counters);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Incremental: any split of the bytes of a direction gives the same result. Bytes of a side
  // that is encrypted or given up are ignored.
  void parse(Side side, std::span<const uint8_t> data);
  // Bytes lost in that direction: line and packet boundaries are lost with them, so the side is
  // given up.
  void on_gap(Side side);
  // Flow end: a side inside a line or packet is flagged truncated; buffers are released.
  void on_end();

  const Session& session() const { return session_; }
  // Both sides encrypted or given up: nothing more will be parsed.
  bool done() const;
  size_t memory_bytes() const;

 private:
  enum class State : uint8_t {
    kBanner,   // lines up to the identification line
    kHeader,   // the 6 bytes packet_length, padding_length, message code
    kKexInit,  // KEXINIT payload being buffered
    kSkip,     // the rest of a packet not parsed
    kStopped,  // encrypted, protocol 1, given up, or ended
  };
  struct Stream {
    State state = State::kBanner;
    std::string line;        // kBanner: the current line (up to the banner limit)
    bool line_over = false;  // the current line went over the limit
    uint32_t lines = 0;      // lines seen before the identification
    uint8_t header[6] = {};  // kHeader: bytes so far
    uint8_t header_len = 0;
    uint64_t remaining = 0;       // kKexInit / kSkip: bytes of the packet still to come
    uint32_t padding = 0;         // kKexInit: padding bytes that follow the payload
    bool newkeys_packet = false;  // kSkip: the packet is NEWKEYS: encrypted after it
    std::string packet;           // kKexInit: the payload after the message code
  };

  Stream& stream(Side side) { return side == Side::kClient ? client_ : server_; }
  Endpoint& endpoint(Side side) {
    return side == Side::kClient ? session_.client : session_.server;
  }
  void banner(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void banner_line(Side side, Stream& s);
  void header(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void kexinit_bytes(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void kexinit_done(Side side, Stream& s);
  void skip(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void stop(Stream& s);
  void flag(Side side, Anomaly a);

  Limits limits_;
  Observer& observer_;
  core::Counters<SshCounter>& counters_;
  Session session_;
  Stream client_, server_;
};

}  // namespace spanguard::applayer::ssh
