// The `asn1` keyword's decoder and checks, following Suricata's rust/src/asn1/mod.rs and the
// der-parser BER reader it runs on (X.690 §8.1): the same objects are decoded, the same malformed
// ones are dropped, and the same three checks run on each decoded object.
#include "spanguard/detect/asn1.h"

#include <array>

namespace spanguard::detect {
namespace {

constexpr uint32_t kTagEndOfContent = 0;
constexpr uint32_t kTagBoolean = 1;
constexpr uint32_t kTagBitString = 3;
constexpr uint32_t kTagNull = 5;
constexpr uint32_t kTagOid = 6;
constexpr uint32_t kTagReal = 9;
constexpr uint32_t kTagRelativeOid = 13;
constexpr uint32_t kTagSequence = 16;
constexpr uint32_t kTagSet = 17;
constexpr uint32_t kTagUtcTime = 23;
constexpr uint32_t kTagGeneralizedTime = 24;

// Universal tags der-parser decodes as primitive values. The others (REAL, EXTERNAL, EMBEDDED PDV,
// 14, 15, 29, and numbers from 31) it keeps as raw content, like every non-universal object.
constexpr bool is_known_primitive(uint32_t tag) {
  constexpr uint32_t kKnown = 0b0101'1111'1111'1100'0011'0100'1111'1111u;  // 0-7 10 12 13 18-28 30
  return tag < 32 && (kKnown >> tag & 1) != 0;
}

// der-parser accepts a constructed encoding of these (and reads it as primitive); it refuses one
// of any other known primitive type.
constexpr bool allows_constructed(uint32_t tag) {
  return tag == kTagEndOfContent || tag == kTagBoolean || tag == kTagUtcTime ||
         tag == kTagGeneralizedTime;
}

struct Header {
  bool universal = false;
  bool constructed = false;
  uint32_t tag = 0;
  bool indefinite = false;
  size_t length = 0;   // content octets, when definite
  size_t content = 0;  // index of the first content octet
};

// Reads the identifier and length octets at `pos` (X.690 §8.1.2, §8.1.3). False when they are
// malformed, or when they or the definite-length content do not fit before `limit`.
bool read_header(std::span<const uint8_t> data, size_t pos, size_t limit, Header& h) {
  if (pos >= limit) return false;
  const uint8_t id = data[pos++];
  h.universal = (id >> 6) == 0;
  h.constructed = (id & 0x20) != 0;
  h.tag = id & 0x1f;
  if (h.tag == 0x1f) {
    // High tag number form; der-parser takes at most five subsequent octets.
    h.tag = 0;
    for (int n = 0;; ++n) {
      if (pos >= limit || n == 5) return false;
      const uint8_t b = data[pos++];
      h.tag = h.tag << 7 | (b & 0x7f);
      if ((b & 0x80) == 0) break;
    }
  }
  if (pos >= limit) return false;
  const uint8_t first = data[pos++];
  h.indefinite = first == 0x80;
  h.length = 0;
  if (first < 0x80) {
    h.length = first;
  } else if (first == 0xff) {
    return false;  // §8.1.3.5 c): reserved
  } else if (!h.indefinite) {
    const size_t octets = first & 0x7f;
    if (octets > limit - pos) return false;
    uint64_t length = 0;
    for (size_t i = 0; i < octets; ++i) {
      if ((length >> 56) != 0) return false;  // over 64 bits: der-parser's IntegerTooLarge
      length = length << 8 | data[pos++];
    }
    if (length > limit - pos) return false;
    h.length = static_cast<size_t>(length);
  }
  h.content = pos;
  return h.indefinite || h.length <= limit - pos;
}

// The content constraints der-parser enforces on the universal types that matter for structure
// (its character-set checks on string types are not reproduced).
bool content_ok(std::span<const uint8_t> data, const Header& h) {
  switch (h.tag) {
    case kTagEndOfContent:
    case kTagNull:
      return h.length == 0;
    case kTagBoolean:
      return h.length == 1;
    case kTagBitString:
      return h.length >= 1;  // the unused-bits octet
    case kTagOid:
    case kTagRelativeOid:
      return h.length >= 1 && (data[h.content + h.length - 1] & 0x80) == 0;
    default:
      return true;
  }
}

struct Frame {
  size_t end = 0;      // definite: end of the content; indefinite: the limit inherited
  size_t content = 0;  // index of the first content octet
  bool indefinite = false;
  bool inspect = false;  // a universal SEQUENCE/SET: its elements are objects that get checked
  bool tripped = false;  // a check fired on this object or on one of its completed elements
};

enum class Begun { kComplete, kOpened, kFailed };

class Walker {
 public:
  Walker(const Asn1Check& check, std::span<const uint8_t> data) : check_(check), data_(data) {}

  // Decodes the top-level object at `pos` with all it contains. True, with `pos` past it and
  // `tripped` set when a check fired in it, if it decoded; false if it is malformed, in which
  // case none of it counts (Suricata checks only objects der-parser returned).
  bool decode_object(size_t& pos, bool& tripped) {
    depth_ = 0;
    size_t p = pos;
    bool complete_tripped = false;
    switch (begin(p, data_.size(), 1, false, complete_tripped)) {
      case Begun::kFailed:
        return false;
      case Begun::kComplete:
        pos = p;
        tripped = complete_tripped;
        return true;
      case Begun::kOpened:
        break;
    }
    while (true) {
      Frame& f = stack_[depth_ - 1];
      bool closing = false;
      size_t content_end = p;
      if (f.indefinite) {
        // §8.1.5: end-of-contents octets close an indefinite-length object. der-parser checks the
        // depth of every element of skipped content, its end-of-contents included.
        const bool too_deep = !f.inspect && depth_ + 1 > kAsn1MaxFrames;
        if (!too_deep && f.end - p >= 2 && data_[p] == 0 && data_[p + 1] == 0) {
          p += 2;
          closing = true;
        }
      } else if (p == f.end) {
        closing = true;
      }
      if (!closing) {
        bool child_tripped = false;
        switch (begin(p, f.end, depth_ + 1, !f.inspect, child_tripped)) {
          case Begun::kComplete:
            // Raw content skipped over is not made of objects: nothing in it is checked.
            if (f.inspect) f.tripped |= child_tripped;
            continue;
          case Begun::kOpened:
            continue;
          case Begun::kFailed:
            if (!unwind(p)) return false;
            content_end = p;
            break;  // the definite SEQUENCE/SET that stopped at the bad element is now complete
        }
      }
      // The object on top of the stack is complete.
      bool t = stack_[depth_ - 1].tripped;
      const Frame& done = stack_[depth_ - 1];
      if (!done.inspect && check_.oversize_length &&
          content_end - done.content > *check_.oversize_length) {
        // Raw indefinite-length content: Suricata compares the content's length. (Only counts for
        // an object: a frame nested in raw content has a raw parent, to which nothing propagates.)
        t = true;
      }
      --depth_;
      if (depth_ == 0) {
        pos = p;
        tripped = t;
        return true;
      }
      if (stack_[depth_ - 1].inspect) stack_[depth_ - 1].tripped |= t;
    }
  }

 private:
  // Reads the object at `p` (inside `limit`, nested `level` deep). A primitive or definite-length
  // raw object is complete at once (`p` moves past it, `tripped` tells whether a check fired); a
  // SEQUENCE/SET or an indefinite-length raw object is opened as a frame (`p` moves to its
  // content). Inside raw content (`in_raw`) der-parser only reads headers to find where the
  // content ends: nothing there is an object, validated or checked.
  Begun begin(size_t& p, size_t limit, size_t level, bool in_raw, bool& tripped) {
    if (level > kAsn1MaxFrames || nodes_ == kAsn1MaxNodes) return Begun::kFailed;
    ++nodes_;
    Header h;
    if (!read_header(data_, p, limit, h)) return Begun::kFailed;
    if (in_raw) {
      if (h.indefinite) return open_raw(p, limit, h);
      p = h.content + h.length;
      return Begun::kComplete;
    }
    if (h.universal && (h.tag == kTagSequence || h.tag == kTagSet)) {
      if (!h.constructed) return Begun::kFailed;
      Frame& f = stack_[depth_++];
      f.content = h.content;
      f.indefinite = h.indefinite;
      f.end = h.indefinite ? limit : h.content + h.length;
      f.inspect = true;
      f.tripped = !h.indefinite && oversize(h.length);
      p = h.content;
      return Begun::kOpened;
    }
    if (h.universal && is_known_primitive(h.tag)) {
      if (h.indefinite || (h.constructed && !allows_constructed(h.tag))) return Begun::kFailed;
      if (!content_ok(data_, h)) return Begun::kFailed;
    } else if (h.indefinite) {
      // Kept raw, as der-parser does even for a primitive encoding (X.690 §8.1.3.2 allows the
      // indefinite form for constructed ones only).
      return open_raw(p, limit, h);
    }
    tripped = fires(h);
    p = h.content + h.length;
    return Begun::kComplete;
  }

  // Opens an indefinite-length object whose content is kept raw: its end is found by walking the
  // headers inside it up to the matching end-of-contents.
  Begun open_raw(size_t& p, size_t limit, const Header& h) {
    Frame& f = stack_[depth_++];
    f.content = h.content;
    f.indefinite = true;
    f.end = limit;
    f.inspect = false;
    f.tripped = false;
    p = h.content;
    return Begun::kOpened;
  }

  // An element failed to decode at the top of the stack. In a definite-length SEQUENCE/SET,
  // der-parser keeps the elements before it and ignores the rest of the content; anywhere else the
  // enclosing object fails with it. True with `p` at the end of the SEQUENCE/SET that absorbed the
  // failure (still on the stack), false when the top-level object failed.
  bool unwind(size_t& p) {
    while (depth_ > 0) {
      const Frame& parent = stack_[depth_ - 1];
      if (parent.inspect && !parent.indefinite) {
        p = parent.end;
        return true;
      }
      --depth_;
    }
    return false;
  }

  bool oversize(size_t length) const {
    return check_.oversize_length && length > *check_.oversize_length;
  }

  // The checks of Suricata's Asn1::check_object on a definite-length object.
  bool fires(const Header& h) const {
    if (oversize(h.length)) return true;
    const bool primitive_universal = h.universal && !h.constructed && h.length > 0;
    const uint8_t first = primitive_universal ? data_[h.content] : 0;
    // More unused bits than the string holds: MS04-007's MSASN1 overflow.
    if (check_.bitstring_overflow && primitive_universal && h.tag == kTagBitString &&
        uint64_t{first} > uint64_t{h.length} * 8) {
      return true;
    }
    // A decimal-encoded REAL (§8.5.8: first octet bits 8-7 are 00) over 256 octets overflows
    // MSASN1's fixed-size buffer.
    if (check_.double_overflow && primitive_universal && h.tag == kTagReal && (first & 0xc0) == 0 &&
        h.length > 256) {
      return true;
    }
    return false;
  }

  const Asn1Check& check_;
  std::span<const uint8_t> data_;
  std::array<Frame, kAsn1MaxFrames> stack_{};
  size_t depth_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

std::optional<size_t> asn1_start(const Asn1Check& check, size_t buffer_size, size_t cursor) {
  const size_t base = check.relative ? cursor : 0;
  size_t at = 0;
  if (check.offset < 0) {
    const size_t back = static_cast<size_t>(-static_cast<int64_t>(check.offset));
    if (back > base) return std::nullopt;
    at = base - back;
  } else {
    const size_t forward = static_cast<size_t>(check.offset);
    if (base > buffer_size || forward >= buffer_size - base) return std::nullopt;
    at = base + forward;
  }
  if (at >= buffer_size) return std::nullopt;
  return at;
}

bool asn1_matches(const Asn1Check& check, std::span<const uint8_t> data, size_t start) {
  if (start >= data.size()) return false;
  if (!check.bitstring_overflow && !check.double_overflow && !check.oversize_length) return false;
  Walker walker(check, data);
  bool tripped = false;
  size_t objects = 0;
  for (size_t pos = start; pos < data.size(); ++objects) {
    // Suricata fails the whole decode (no match) when bytes remain after kAsn1MaxFrames objects.
    if (objects == kAsn1MaxFrames) return false;
    bool object_tripped = false;
    if (!walker.decode_object(pos, object_tripped)) break;  // stops at the first malformed object
    tripped |= object_tripped;
  }
  return tripped;
}

}  // namespace spanguard::detect
