// Fuzzes the `asn1` keyword's decoder with arbitrary bytes, start offsets and bounds: no crash or
// read outside the buffer (the input is copied to an exact-size allocation), and the checks ORed
// as the keyword defines them (any check firing alone fires with the others, a bound that fires
// keeps firing below it, nothing fires when no check is enabled).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "spanguard/detect/asn1.h"

namespace {

using spanguard::detect::asn1_matches;
using spanguard::detect::asn1_start;
using spanguard::detect::Asn1Check;

// Names the failed invariant: a crash report alone would not say which one.
#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "asn1_fuzz: %s failed at line %d\n", #cond, __LINE__); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  // Header: a start offset byte and a 16-bit oversize bound (small bounds are the interesting
  // ones); the rest is the buffer, copied so that a read past its end is caught.
  const size_t start_byte = data[0];
  const uint32_t bound = uint32_t{data[1]} << 8 | data[2];
  const size_t n = size - 3;
  auto copy = std::make_unique<uint8_t[]>(n);
  std::memcpy(copy.get(), data + 3, n);
  const std::span<const uint8_t> buffer(copy.get(), n);
  const size_t start = start_byte < 0xf0 ? start_byte % (n + 1) : n + start_byte;

  Asn1Check bitstring, real, oversize, all;
  bitstring.bitstring_overflow = true;
  real.double_overflow = true;
  oversize.oversize_length = bound;
  all.bitstring_overflow = all.double_overflow = true;
  all.oversize_length = bound;

  const bool b = asn1_matches(bitstring, buffer, start);
  const bool r = asn1_matches(real, buffer, start);
  const bool o = asn1_matches(oversize, buffer, start);
  CHECK(asn1_matches(all, buffer, start) == (b || r || o));
  CHECK(asn1_matches(bitstring, buffer, start) == b);  // deterministic
  CHECK(!asn1_matches(Asn1Check{}, buffer, start));
  if (start >= n) CHECK(!b && !r && !o);
  if (o && bound > 0) {
    Asn1Check lower;
    lower.oversize_length = bound - 1;
    CHECK(asn1_matches(lower, buffer, start));
  }
  if (!o) {
    Asn1Check higher;
    higher.oversize_length = bound + 1;
    CHECK(!asn1_matches(higher, buffer, start));
  }

  // Start resolution stays inside the buffer.
  Asn1Check relative;
  relative.relative = true;
  relative.offset = static_cast<int8_t>(data[1]);
  if (const auto at = asn1_start(relative, n, start)) {
    CHECK(*at < n);
    CHECK(static_cast<int64_t>(*at) == static_cast<int64_t>(start) + relative.offset);
  }
  return 0;
}
