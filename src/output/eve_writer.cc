// JSON lines through the reflection printer: each thread prints into its own buffer, the mutex
// covers only the fwrite, so that workers do not serialize behind each other's printing.
#include "spanguard/output/eve_writer.h"

#include <cerrno>
#include <cstring>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/json_printer.h"

namespace spanguard::output {

namespace {

// A thread's line buffer is kept between events unless one event made it this large.
constexpr size_t kKeptLineCapacity = size_t{1} << 20;

// stdio's default 4 KiB buffer costs a write system call every dozen events: a replay writing
// 100,000 flow records spent more time in them than in printing the records.
constexpr size_t kFileBuffer = size_t{1} << 20;

FILE* open_for_append(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "a");
  if (f != nullptr) std::setvbuf(f, nullptr, _IOFBF, kFileBuffer);
  return f;
}

}  // namespace

EveWriter::EveWriter(const std::string& path, bool flush_each_line)
    : flush_each_line_(flush_each_line), path_(path) {
  if (path == "-") {
    file_ = stdout;
  } else {
    file_ = open_for_append(path);
    if (file_ == nullptr) {
      throw core::RuntimeError(path + ": cannot open for EVE output: " + std::strerror(errno));
    }
    owned_ = true;
  }
}

EveWriter::~EveWriter() {
  flush();
  if (owned_) std::fclose(file_);
}

void EveWriter::write(const google::protobuf::Message& event) {
  thread_local std::string line;
  line.clear();
  if (!append_json(event, line)) {
    std::lock_guard lock(mutex_);
    if (errors_++ == 0) {
      core::logger("output")->error("EVE: cannot print a {} event (nesting or an Any)",
                                    event.GetDescriptor()->full_name());
    }
    return;
  }
  line += '\n';
  write_line(line);
  if (line.capacity() > kKeptLineCapacity) std::string().swap(line);
}

void EveWriter::write_line(std::string_view line) {
  {
    std::lock_guard lock(mutex_);
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() && errors_++ == 0) {
      core::logger("output")->error("{}: write failed: {}", path_, std::strerror(errno));
    }
    events_.fetch_add(1, std::memory_order_relaxed);
    if (flush_each_line_) {
      std::fflush(file_);
    } else {
      dirty_.store(true, std::memory_order_relaxed);
    }
  }
}

void EveWriter::flush() {
  if (!dirty_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  std::fflush(file_);
  dirty_.store(false, std::memory_order_relaxed);
}

bool EveWriter::reopen() {
  if (!owned_) return true;  // stdout
  std::lock_guard lock(mutex_);
  FILE* fresh = open_for_append(path_);
  if (fresh == nullptr) {
    core::logger("output")->error(
        "{}: cannot reopen for EVE output ({}); writing on to the old "
        "file",
        path_, std::strerror(errno));
    return false;
  }
  std::fflush(file_);
  std::fclose(file_);
  file_ = fresh;
  dirty_.store(false, std::memory_order_relaxed);
  core::logger("output")->info("{}: reopened", path_);
  return true;
}

}  // namespace spanguard::output
