// EVE-compatible JSON lines, one event per line, printed by the reflection walk of json_printer.h
// (proto field names, which are EVE's; 64-bit integers as JSON numbers). Safe to call from several
// workers: each prints into its own buffer, the lock covers only the write.
#pragma once

#include <google/protobuf/message.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "spanguard/core/counters.h"

namespace spanguard::output {

class EveWriter {
 public:
  // `path` "-" writes to stdout; throws core::RuntimeError naming the path when it cannot be
  // opened.
  explicit EveWriter(const std::string& path);
  ~EveWriter();
  EveWriter(const EveWriter&) = delete;
  EveWriter& operator=(const EveWriter&) = delete;

  void write(const google::protobuf::Message& event);
  void flush();
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
  std::atomic<uint64_t> events_{0};
  uint64_t errors_ = 0;  // under mutex_; only the first error is logged
};

}  // namespace spanguard::output
