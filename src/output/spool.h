// The alert stream's on-disk spool: a directory of segment files, each the Hello of one run
// followed by that run's events as stream frames, so that events keep their run id and seq across a
// restart. Internal to the output module; the Outbox decides what goes here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/output/alert_stream.h"
#include "spanguard/output/socket.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {

class Spool;

// One segment file. Records are appended whole; after a crash the file ends at most in one torn
// record, which loading cuts off.
class SpoolFile {
 public:
  SpoolFile(Spool& spool, std::string path, UniqueFd fd, uint64_t size);
  ~SpoolFile();
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  // Buffered unless fsync is "always". False when the record could not be written (disk full):
  // the file is then cut back to its last whole record and sealed.
  bool append(std::string_view frame);
  // Writes buffered records; returns how many were lost to a write error.
  uint64_t flush();
  void sync();  // fdatasync, when anything was written since the last one
  // Unlinks the file and releases its bytes from the spool's total.
  void remove();

  uint64_t size() const { return committed_ + buffer_.size(); }
  uint64_t committed() const { return committed_; }
  // Reads committed bytes only; flush() first to see the buffered ones.
  long read_at(uint64_t offset, char* out, size_t n) const;
  const std::string& path() const { return path_; }
  bool sealed() const { return sealed_; }
  void seal() { sealed_ = true; }

 private:
  bool write_all(std::string_view bytes);

  Spool& spool_;
  std::string path_;
  UniqueFd fd_;
  uint64_t committed_;
  std::string buffer_;
  uint64_t buffered_records_ = 0;
  bool dirty_ = false;
  bool sealed_ = false;
  bool removed_ = false;
};

struct SpooledSegment {
  std::unique_ptr<SpoolFile> file;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t events = 0;
};

struct SpooledRun {
  v1::Hello hello;
  std::vector<SpooledSegment> segments;  // by first_seq
};

class Spool {
 public:
  // Creates the directory if needed and locks it against a second sensor; throws
  // core::RuntimeError naming the directory.
  Spool(std::string dir, uint64_t max_bytes, SpoolFsync fsync, uint64_t max_frame);
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The segments earlier runs left, oldest run first. Torn tails are cut off (with a warning);
  // unreadable files are renamed *.corrupt and left alone.
  std::vector<SpooledRun> load();

  // A new segment of `hello`'s run whose first event will be `first_seq`, the Hello written;
  // null (logged) when there is no room for `reserve` more bytes or the file cannot be created.
  std::unique_ptr<SpoolFile> create(const v1::Hello& hello, std::string_view hello_frame,
                                    uint64_t first_seq, uint64_t reserve);

  bool has_room(uint64_t bytes) const { return used_ + bytes <= max_bytes_; }
  uint64_t used() const { return used_; }
  SpoolFsync fsync() const { return fsync_; }
  // A segment stops taking records past this size, so that acknowledged data is freed in steps.
  uint64_t segment_bytes() const { return segment_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  friend class SpoolFile;
  void sync_dir();

  std::string dir_;
  uint64_t max_bytes_;
  SpoolFsync fsync_;
  uint64_t max_frame_;
  uint64_t segment_bytes_;
  UniqueFd dir_fd_;
  UniqueFd lock_fd_;
  uint64_t used_ = 0;
};

}  // namespace spanguard::output
