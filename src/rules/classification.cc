// classification.config reader.
#include "spanguard/rules/classification.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "spanguard/core/text.h"

namespace spanguard::rules {

namespace {
using core::trim;
}  // namespace

std::vector<std::string> Classifications::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {path + ": cannot read classification file"};
  std::stringstream text;
  text << in.rdbuf();
  return load_text(text.str(), path);
}

std::vector<std::string> Classifications::load_text(std::string_view text,
                                                    const std::string& name) {
  std::vector<std::string> errors;
  int line_no = 0;
  constexpr std::string_view kPrefix = "config classification:";
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    if (!line.starts_with(kPrefix)) {
      errors.push_back(where + "expected 'config classification: name,description,priority'");
      continue;
    }
    const std::string_view body = trim(line.substr(kPrefix.size()));
    const auto c1 = body.find(','), c2 = body.rfind(',');
    if (c1 == std::string_view::npos || c1 == c2) {
      errors.push_back(where + "expected three comma-separated fields");
      continue;
    }
    const std::string_view prio = trim(body.substr(c2 + 1));
    uint32_t priority = 0;
    const auto [end, ec] = std::from_chars(prio.data(), prio.data() + prio.size(), priority);
    if (ec != std::errc() || end != prio.data() + prio.size()) {
      errors.push_back(where + "priority '" + std::string(prio) + "' is not a number");
      continue;
    }
    entries_[std::string(trim(body.substr(0, c1)))] = {
        std::string(trim(body.substr(c1 + 1, c2 - c1 - 1))), priority};
  }
  return errors;
}

const Classification* Classifications::find(std::string_view name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace spanguard::rules
