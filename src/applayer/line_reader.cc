// Line reading for the text protocols.
#include "spanguard/applayer/line_reader.h"

#include <algorithm>
#include <cstring>

namespace spanguard::applayer {

bool LineReader::take(const uint8_t*& p, const uint8_t* end, size_t max_line_length) {
  while (p < end) {
    const auto* lf = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
    const uint8_t* stop_at = lf != nullptr ? lf : end;
    if (!skip_line) {
      const size_t n = stop_at - p;
      const size_t room = max_line_length > line.size() ? max_line_length - line.size() : 0;
      line.append(reinterpret_cast<const char*>(p), std::min(n, room));
      if (n > room) line_over = true;
    }
    p = stop_at;
    if (lf == nullptr) return false;
    ++p;
    if (!skip_line) return true;
    skip_line = false;  // the line cut by a gap is over: the next one is whole
  }
  return false;
}

}  // namespace spanguard::applayer
