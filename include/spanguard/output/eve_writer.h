// EVE-compatible JSON lines, one event per line, printed by protobuf's JSON mapping with the proto
// field names preserved (the names are EVE's). Safe to call from several workers.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

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
  uint64_t events() const { return events_; }

 private:
  std::mutex mutex_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
  std::string line_;
  google::protobuf::util::JsonPrintOptions options_;
  uint64_t events_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace spanguard::output
