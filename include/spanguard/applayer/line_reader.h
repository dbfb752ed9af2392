// One direction of a line-based protocol (FTP, SMTP): the line being read, up to a length cap,
// and the rest of a line cut by a capture gap skipped so that parsing resumes at a whole line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace spanguard::applayer {

struct LineReader {
  std::string line;        // the current line without its LF, up to the limit
  bool line_over = false;  // bytes of the current line were dropped
  bool skip_line = false;  // after a gap: the rest of the current line is dropped

  // Takes bytes from `p` up to and including the next LF (advancing `p`), keeping at most
  // `max_line_length` of them in `line`; true when `line` holds a whole line.
  bool take(const uint8_t*& p, const uint8_t* end, size_t max_line_length);
};

}  // namespace spanguard::applayer
