// Segment files of the alert spool: creation, buffered appends, fsync policy, and loading what an
// earlier run left (cutting torn tails, setting unreadable files aside).
#include "spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <tuple>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/envelope.h"
#include "spanguard/output/framing.h"

namespace spanguard::output {

namespace {

// Small records are gathered into one write(); a crash loses at most this much plus what the
// output thread has not flushed on its last tick.
constexpr size_t kWriteBuffer = 64 * 1024;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

SpoolFile::SpoolFile(Spool& spool, std::string path, UniqueFd fd, uint64_t size)
    : spool_(spool), path_(std::move(path)), fd_(std::move(fd)), committed_(size) {
  spool_.used_ += size;
}

SpoolFile::~SpoolFile() {
  if (!removed_) {
    flush();
    spool_.used_ -= committed_;
  }
}

bool SpoolFile::write_all(std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      core::logger("output")->error("spool {}: write failed: {}", path_,
                                    n < 0 ? errno_text() : "no progress");
      // Cut a partly written record so that the file stays a sequence of whole records.
      if (::ftruncate(fd_.get(), static_cast<off_t>(committed_)) != 0) {
        core::logger("output")->error("spool {}: cannot cut a partial record: {}", path_,
                                      errno_text());
      }
      sealed_ = true;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  committed_ += bytes.size();
  spool_.used_ += bytes.size();
  dirty_ = true;
  return true;
}

bool SpoolFile::append(std::string_view frame) {
  if (sealed_) return false;
  if (spool_.fsync_ == SpoolFsync::kAlways) {
    if (!write_all(frame)) return false;
    sync();
    return true;
  }
  buffer_.append(frame);
  spool_.used_ += frame.size();  // counted at once: the cap holds for buffered bytes too
  ++buffered_records_;
  if (buffer_.size() >= kWriteBuffer) return flush() == 0;
  return true;
}

uint64_t SpoolFile::flush() {
  if (buffer_.empty()) return 0;
  spool_.used_ -= buffer_.size();
  const uint64_t records = buffered_records_;
  const bool ok = write_all(buffer_);
  buffer_.clear();
  buffered_records_ = 0;
  return ok ? 0 : records;
}

void SpoolFile::sync() {
  if (!dirty_ || spool_.fsync_ == SpoolFsync::kNever) return;
  if (::fdatasync(fd_.get()) != 0) {
    core::logger("output")->warn("spool {}: fdatasync: {}", path_, errno_text());
  }
  dirty_ = false;
}

void SpoolFile::remove() {
  if (removed_) return;
  spool_.used_ -= size();
  buffer_.clear();
  buffered_records_ = 0;
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    core::logger("output")->warn("spool {}: cannot remove: {}", path_, errno_text());
  }
  fd_.reset();
  removed_ = true;
}

long SpoolFile::read_at(uint64_t offset, char* out, size_t n) const {
  if (offset >= committed_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, committed_ - offset));
  for (;;) {
    const ssize_t got = ::pread(fd_.get(), out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    return static_cast<long>(got);
  }
}

Spool::Spool(std::string dir, uint64_t max_bytes, SpoolFsync fsync, uint64_t max_frame)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      fsync_(fsync),
      max_frame_(max_frame),
      segment_bytes_(std::clamp<uint64_t>(max_bytes / 8, 64 * 1024, 64ull << 20)) {
  const auto fail = [&](const std::string& why) {
    return core::RuntimeError("output.spool.dir " + dir_ + ": " + why);
  };
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw fail("cannot create: " + ec.message());
  dir_fd_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd_.valid()) throw fail("cannot open: " + errno_text());
  lock_fd_.reset(::open((dir_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_fd_.valid()) throw fail("cannot create its lock file: " + errno_text());
  // Two sensors appending to one spool would interleave runs; the second one must not start.
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    throw fail(errno == EWOULDBLOCK ? "in use by another spanguard process"
                                    : "cannot lock: " + errno_text());
  }
}

void Spool::sync_dir() {
  if (fsync_ != SpoolFsync::kNever) ::fsync(dir_fd_.get());
}

std::unique_ptr<SpoolFile> Spool::create(const v1::Hello& hello, std::string_view hello_frame,
                                         uint64_t first_seq, uint64_t reserve) {
  if (!has_room(hello_frame.size() + reserve)) return nullptr;
  char name[64];
  std::snprintf(name, sizeof name, "-%020" PRIu64 ".spool", first_seq);
  const std::string path = dir_ + "/" + hello.run_id() + name;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    core::logger("output")->error("spool {}: cannot create: {}", path, errno_text());
    return nullptr;
  }
  auto file = std::make_unique<SpoolFile>(*this, path, std::move(fd), 0);
  if (!file->append(hello_frame)) {
    file->remove();
    return nullptr;
  }
  sync_dir();
  return file;
}

std::vector<SpooledRun> Spool::load() {
  auto log = core::logger("output");
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() == ".spool") paths.push_back(entry.path().string());
  }
  if (ec) throw core::RuntimeError("output.spool.dir " + dir_ + ": cannot list: " + ec.message());
  std::sort(paths.begin(), paths.end());

  std::vector<SpooledRun> runs;
  for (const std::string& path : paths) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
    if (!fd.valid()) {
      log->warn("spool {}: cannot open, left alone: {}", path, errno_text());
      continue;
    }
    FrameReader reader(max_frame_);
    v1::Envelope envelope;
    v1::Hello hello;
    SpooledSegment segment;
    bool bad = false;
    std::string why;
    for (bool eof = false; !eof && !bad;) {
      const ssize_t n = ::read(fd.get(), reader.prepare(64 * 1024), 64 * 1024);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        why = errno_text();
        bad = true;
        break;
      }
      reader.commit(static_cast<size_t>(n));
      eof = n == 0;
      for (;;) {
        const auto result = reader.next(envelope);
        if (result == FrameReader::Result::kNeedMore) break;
        if (result != FrameReader::Result::kFrame) {
          why = reader.error();
          bad = true;
          break;
        }
        if (!hello.run_id().empty()) {
          const uint64_t seq = event_seq(envelope);
          if (seq == 0 || seq <= segment.last_seq) {
            why = "a record that is not the run's next event";
            bad = true;
            break;
          }
          if (segment.events++ == 0) segment.first_seq = seq;
          segment.last_seq = seq;
        } else if (envelope.has_hello() && !envelope.hello().run_id().empty()) {
          hello = envelope.hello();
        } else {
          why = "does not start with a Hello";
          bad = true;
          break;
        }
      }
    }
    if (hello.run_id().empty()) {
      // Nothing usable: a file whose very first record was cut by a crash, or foreign data.
      if (reader.consumed() == 0 && reader.buffered() == 0 && !bad) {
        ::unlink(path.c_str());
        continue;
      }
      log->warn("spool {}: unreadable ({}), renamed *.corrupt", path,
                why.empty() ? "torn first record" : why);
      std::filesystem::rename(path, path + ".corrupt", ec);
      continue;
    }
    // What follows the last whole record is a write a crash interrupted (or damage after it):
    // the events before it are kept, the tail is cut so that the file can be read to its end.
    const uint64_t whole = reader.consumed();
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size > static_cast<off_t>(whole)) {
      log->warn("spool {}: {} byte(s) after the last whole record at offset {} ignored ({})", path,
                static_cast<uint64_t>(size) - whole, whole, why.empty() ? "torn record" : why);
      if (::ftruncate(fd.get(), static_cast<off_t>(whole)) != 0) {
        log->warn("spool {}: cannot cut the torn tail: {}", path, errno_text());
      }
    }
    if (segment.events == 0) {
      ::unlink(path.c_str());
      continue;
    }
    segment.file = std::make_unique<SpoolFile>(*this, path, std::move(fd), whole);
    segment.file->seal();
    auto run = std::find_if(runs.begin(), runs.end(), [&](const SpooledRun& r) {
      return r.hello.run_id() == hello.run_id();
    });
    if (run == runs.end()) {
      runs.push_back({hello, {}});
      run = runs.end() - 1;
    }
    run->segments.push_back(std::move(segment));
  }
  for (auto& run : runs) {
    std::sort(
        run.segments.begin(), run.segments.end(),
        [](const SpooledSegment& a, const SpooledSegment& b) { return a.first_seq < b.first_seq; });
  }
  // EVE timestamps in UTC sort as text.
  std::sort(runs.begin(), runs.end(), [](const SpooledRun& a, const SpooledRun& b) {
    return std::tie(a.hello.start_time(), a.hello.run_id()) <
           std::tie(b.hello.start_time(), b.hello.run_id());
  });
  return runs;
}

}  // namespace spanguard::output
