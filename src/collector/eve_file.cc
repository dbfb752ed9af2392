// JSON lines through the EVE printer, flushed per line, with reopen for rotation.
#include "eve_file.h"

#include <cerrno>
#include <cstring>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/json_printer.h"

namespace spanguard::collector {

EveFile::EveFile(std::string path) : path_(std::move(path)) {
  if (path_ == "-") {
    file_ = stdout;
    return;
  }
  file_ = std::fopen(path_.c_str(), "a");
  if (file_ == nullptr) {
    throw core::RuntimeError(path_ + ": cannot open for EVE output: " + std::strerror(errno));
  }
}

EveFile::~EveFile() {
  if (file_ != nullptr && file_ != stdout) std::fclose(file_);
  if (file_ == stdout) std::fflush(stdout);
}

bool EveFile::write(const google::protobuf::Message& event) {
  line_.clear();
  if (!output::append_json(event, line_)) {
    core::logger("collector")
        ->error("cannot print a {} event as JSON", event.GetDescriptor()->full_name());
    return false;
  }
  line_ += '\n';
  return write_line(line_);
}

bool EveFile::write_line(std::string_view line) {
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    core::logger("collector")->error("{}: write failed: {}", path_, std::strerror(errno));
    std::clearerr(file_);
    return false;
  }
  return true;
}

bool EveFile::reopen() {
  if (file_ == stdout) return true;
  FILE* fresh = std::fopen(path_.c_str(), "a");
  if (fresh == nullptr) {
    core::logger("collector")
        ->error("{}: cannot reopen, still writing the old file: {}", path_, std::strerror(errno));
    return false;
  }
  std::fclose(file_);
  file_ = fresh;
  core::logger("collector")->info("{}: reopened", path_);
  return true;
}

}  // namespace spanguard::collector
