// What the collector has already written, per sensor run: the highest seq of each run id. Rebuilt
// at start-up from a small state file (saved at rotation and exit) plus a scan of the output
// file written since, so that a collector killed at any moment neither loses nor repeats a line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace spanguard::collector {

class HighWaterMarks {
 public:
  // 0 when nothing of the run was written.
  uint64_t get(std::string_view run_id) const;
  void raise(const std::string& run_id, uint64_t seq);
  size_t runs() const { return marks_.size(); }

  // Reads `state_path` (absent: nothing) and then the part of `output_path` it does not cover:
  // all of it, unless the state names the same file and a size it still has. A last line cut by
  // a crash is removed from the output (it was never acknowledged, so the sensor resends it).
  // Throws core::RuntimeError for files that exist but cannot be read.
  void load(const std::string& state_path, const std::string& output_path);
  // Writes the marks and the output file's current identity and size, atomically (rename).
  // False (logged) on failure.
  bool save(const std::string& state_path, const std::string& output_path) const;

 private:
  void scan(const std::string& output_path, uint64_t from);

  std::unordered_map<std::string, uint64_t> marks_;
};

}  // namespace spanguard::collector
