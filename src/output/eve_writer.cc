// JSON lines through protobuf's printer.
#include "spanguard/output/eve_writer.h"

#include <cerrno>
#include <cstring>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::output {

EveWriter::EveWriter(const std::string& path) : path_(path) {
  if (path == "-") {
    file_ = stdout;
  } else {
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) {
      throw core::RuntimeError(path + ": cannot open for EVE output: " + std::strerror(errno));
    }
    owned_ = true;
  }
  options_.preserve_proto_field_names = true;
}

EveWriter::~EveWriter() {
  flush();
  if (owned_) std::fclose(file_);
}

void EveWriter::write(const google::protobuf::Message& event) {
  std::lock_guard lock(mutex_);
  line_.clear();
  const auto status = google::protobuf::util::MessageToJsonString(event, &line_, options_);
  if (!status.ok()) {
    if (errors_++ == 0)
      core::logger("output")->error("EVE: cannot print an event: {}", status.ToString());
    return;
  }
  line_ += '\n';
  if (std::fwrite(line_.data(), 1, line_.size(), file_) != line_.size() && errors_++ == 0) {
    core::logger("output")->error("{}: write failed: {}", path_, std::strerror(errno));
  }
  ++events_;
}

void EveWriter::flush() {
  std::lock_guard lock(mutex_);
  std::fflush(file_);
}

}  // namespace spanguard::output
