// JSON lines through protobuf's printer, flushed per line, with reopen for rotation.
#include "eve_file.h"

#include <cerrno>
#include <cstring>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::collector {

EveFile::EveFile(std::string path) : path_(std::move(path)) {
  options_.preserve_proto_field_names = true;
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
  const auto status = google::protobuf::util::MessageToJsonString(event, &line_, options_);
  if (!status.ok()) {
    core::logger("collector")->error("cannot print an event as JSON: {}", status.ToString());
    return false;
  }
  line_ += '\n';
  if (std::fwrite(line_.data(), 1, line_.size(), file_) != line_.size() ||
      std::fflush(file_) != 0) {
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
