// EVE-compatible JSON lines, one event per line, printed by the reflection walk of json_printer.h
// (proto field names, which are EVE's; 64-bit integers as JSON numbers). Safe to call from several
// workers: each prints into its own buffer, the lock covers only the write.
#pragma once

#include <google/protobuf/message.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "spanguard/core/counters.h"

namespace spanguard::output {

class EveWriter {
 public:
  // `path` "-" writes to stdout; throws core::RuntimeError naming the path when it cannot be
  // opened. With `flush_each_line` every event is flushed as it is written; otherwise the caller
  // flushes (run: at the end of each batch of frames, so a SIEM tailing the file sees events
  // within milliseconds).
  explicit EveWriter(const std::string& path, bool flush_each_line = false);
  ~EveWriter();
  EveWriter(const EveWriter&) = delete;
  EveWriter& operator=(const EveWriter&) = delete;

  void write(const google::protobuf::Message& event);
  // One event already printed as a JSON line (ending in a newline).
  void write_line(std::string_view line);
  // Flushes what was written since the last flush (nothing to do: no system call).
  void flush();
  // Log rotation (SIGHUP): closes the file and opens `path` again, creating it if it was moved
  // away. Events written meanwhile go to one file or the other, none is lost. False (logged) when
  // the path cannot be opened: writing goes on to the old file.
  bool reopen();
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  bool flush_each_line_ = false;
  // Written since the last flush: set under mutex_, read without it so that the flush at every
  // batch end takes no lock when nothing was written.
  std::atomic<bool> dirty_{false};
  std::string path_;
  std::atomic<uint64_t> events_{0};
  uint64_t errors_ = 0;  // under mutex_; only the first error is logged
};

}  // namespace spanguard::output
