// What the stream-parser fuzz targets (http, ssh, ftp, smtp) share: their input format — records
// of one direction's bytes or a gap — the two ways of feeding a record (whole, or cut into the
// fuzzer's pieces: a parser must not tell the difference), and the digest the runs compare.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace spanguard::fuzzing {

// FNV-1a over the values a run observed.
class Fnv {
 public:
  void mix(uint64_t v) {
    h_ ^= v;
    h_ *= 1099511628211ull;
  }
  void mix(std::string_view s) {
    for (const char c : s) mix(static_cast<uint8_t>(c));
    mix(s.size());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

template <typename Side>
struct StreamRecord {
  bool gap = false;
  Side side{};
  std::string_view data;
  uint8_t piece = 0;  // cut into pieces of piece+1 bytes in the split run
};

// Records of [control][length][piece][length bytes] (at most 256): control bit 0 picks `second`
// over `first` as the side; control values with bits 1..2 both set are a gap instead of data.
template <typename Side>
std::vector<StreamRecord<Side>> read_records(const uint8_t* data, size_t size, Side first,
                                             Side second) {
  std::vector<StreamRecord<Side>> records;
  size_t at = 0;
  while (at + 3 <= size && records.size() < 256) {
    StreamRecord<Side> r;
    const uint8_t control = data[at];
    r.side = (control & 1) ? second : first;
    r.gap = (control & 6) == 6;
    const size_t len = std::min<size_t>(data[at + 1], size - at - 3);
    r.piece = data[at + 2];
    at += 3;
    if (!r.gap) r.data = {reinterpret_cast<const char*>(data + at), len}, at += len;
    records.push_back(r);
  }
  return records;
}

// Calls feed(bytes) with the record's bytes: whole, or in pieces of piece+1 bytes when `split`.
template <typename Side, typename Feed>
void for_each_piece(const StreamRecord<Side>& r, bool split, Feed&& feed) {
  const auto* p = reinterpret_cast<const uint8_t*>(r.data.data());
  const size_t step = split ? size_t{r.piece} + 1 : r.data.size();
  for (size_t at = 0; at < r.data.size(); at += step) {
    feed(std::span<const uint8_t>(p + at, std::min(step, r.data.size() - at)));
  }
}

}  // namespace spanguard::fuzzing
