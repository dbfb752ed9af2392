// Loading and saving the collector's per-run high-water marks; the output scan reads our own EVE
// lines back through protobuf's JSON parser.
#include "high_water_marks.h"

#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/socket.h"

namespace spanguard::collector {

namespace {

constexpr std::string_view kHeader = "# spanguard-collector state 1";

bool parse_u64(std::string_view text, uint64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// seq is a uint64, which protobuf's JSON mapping prints as a string.
bool json_seq(const google::protobuf::Value& v, uint64_t& out) {
  if (v.has_string_value()) return parse_u64(v.string_value(), out);
  if (v.has_number_value() && v.number_value() >= 0) {
    out = static_cast<uint64_t>(v.number_value());
    return true;
  }
  return false;
}

}  // namespace

uint64_t HighWaterMarks::get(std::string_view run_id) const {
  const auto it = marks_.find(std::string(run_id));
  return it == marks_.end() ? 0 : it->second;
}

void HighWaterMarks::raise(const std::string& run_id, uint64_t seq) {
  uint64_t& mark = marks_[run_id];
  if (seq > mark) mark = seq;
}

void HighWaterMarks::load(const std::string& state_path, const std::string& output_path) {
  uint64_t state_dev = 0, state_ino = 0, state_size = 0;
  bool state_has_output = false;
  if (!state_path.empty()) {
    std::ifstream in(state_path);
    if (in) {
      std::string line;
      size_t line_no = 0;
      while (std::getline(in, line)) {
        ++line_no;
        if (line.empty() || line.front() == '#') continue;
        std::istringstream fields(line);
        std::string kind, a, b, c;
        fields >> kind >> a >> b >> c;
        uint64_t x = 0, y = 0, z = 0;
        if (kind == "output" && parse_u64(a, x) && parse_u64(b, y) && parse_u64(c, z)) {
          state_dev = x;
          state_ino = y;
          state_size = z;
          state_has_output = true;
        } else if (kind == "run" && !a.empty() && parse_u64(b, y)) {
          raise(a, y);
        } else {
          core::log_limited("collector", spdlog::level::warn, "collector.state_line",
                            "{}:{}: unreadable state line ignored", state_path, line_no);
        }
      }
    }
  }
  if (output_path.empty() || output_path == "-") return;
  struct stat st {};
  if (::stat(output_path.c_str(), &st) != 0) return;  // a new output file
  uint64_t from = 0;
  if (state_has_output && st.st_dev == state_dev && st.st_ino == state_ino &&
      static_cast<uint64_t>(st.st_size) >= state_size) {
    from = state_size;
  }
  scan(output_path, from);
}

void HighWaterMarks::scan(const std::string& output_path, uint64_t from) {
  auto log = core::logger("collector");
  FILE* f = std::fopen(output_path.c_str(), "rb");
  if (f == nullptr) {
    throw core::RuntimeError(output_path +
                             ": cannot read to find what was written: " + std::strerror(errno));
  }
  std::fseek(f, static_cast<long>(from), SEEK_SET);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  google::protobuf::Struct record;
  std::string line;
  uint64_t offset = from, whole = from, lines = 0, unreadable = 0;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      ++offset;
      if (buf[i] != '\n') {
        line += buf[i];
        continue;
      }
      whole = offset;
      ++lines;
      record.Clear();
      uint64_t seq = 0;
      if (!google::protobuf::util::JsonStringToMessage(line, &record, options).ok()) {
        ++unreadable;
      } else {
        const auto& fields = record.fields();
        const auto run = fields.find("run_id");
        const auto s = fields.find("seq");
        if (run != fields.end() && s != fields.end() && run->second.has_string_value() &&
            json_seq(s->second, seq)) {
          raise(run->second.string_value(), seq);
        }
      }
      line.clear();
    }
  }
  std::fclose(f);
  if (unreadable > 0) log->warn("{}: {} line(s) are not JSON; skipped", output_path, unreadable);
  if (offset > whole) {
    // The collector died inside a write. That event was not acknowledged and will come again;
    // cutting the fragment keeps the file one JSON object per line.
    log->warn("{}: removing an incomplete last line ({} bytes)", output_path, offset - whole);
    if (::truncate(output_path.c_str(), static_cast<off_t>(whole)) != 0) {
      throw core::RuntimeError(output_path +
                               ": cannot remove an incomplete last line: " + std::strerror(errno));
    }
  }
  log->info("{}: {} line(s) scanned from offset {}; {} run(s) known", output_path, lines, from,
            marks_.size());
}

bool HighWaterMarks::save(const std::string& state_path, const std::string& output_path) const {
  if (state_path.empty()) return true;
  std::string text(kHeader);
  text += "\n";
  struct stat st {};
  if (!output_path.empty() && output_path != "-" && ::stat(output_path.c_str(), &st) == 0) {
    text += "output " + std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " +
            std::to_string(st.st_size) + "\n";
  }
  for (const auto& [run, seq] : marks_) text += "run " + run + " " + std::to_string(seq) + "\n";
  const std::string tmp = state_path + ".tmp";
  bool ok = false;
  {
    output::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ok = fd.valid();
    size_t done = 0;
    while (ok && done < text.size()) {
      const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) done += static_cast<size_t>(n);
    }
    ok = ok && ::fsync(fd.get()) == 0;
  }
  ok = ok && ::rename(tmp.c_str(), state_path.c_str()) == 0;
  if (!ok) {
    core::logger("collector")
        ->error("{}: cannot save the collector state: {}", state_path, std::strerror(errno));
  }
  return ok;
}

}  // namespace spanguard::collector
