// The collector's EVE output: one JSON object per line from the sensor's EVE printer
// (output/json_printer.h: field names as declared, which are EVE's), flushed per line so that a
// shipper tailing the file sees each event at once, and reopened on SIGHUP for log rotation.
#pragma once

#include <google/protobuf/message.h>

#include <cstdio>
#include <string>
#include <string_view>

namespace spanguard::collector {

class EveFile {
 public:
  // "-" is stdout. Throws core::RuntimeError naming the path when it cannot be opened.
  explicit EveFile(std::string path);
  ~EveFile();
  EveFile(const EveFile&) = delete;
  EveFile& operator=(const EveFile&) = delete;

  // Prints, writes and flushes one line; false (logged) when any of that failed, in which case
  // the event must not be acknowledged.
  bool write(const google::protobuf::Message& event);
  // Writes and flushes a line already printed (newline included); false (logged) on failure.
  bool write_line(std::string_view line);
  // Closes and opens the path again (a rotated file is left to the rotation tool); false
  // (logged, old file kept) when the path cannot be opened.
  bool reopen();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  FILE* file_ = nullptr;
  std::string line_;
};

}  // namespace spanguard::collector
