// reference.config reader and the resolution of rules' references against it.
#include "spanguard/rules/reference_config.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "spanguard/core/text.h"

namespace spanguard::rules {

std::vector<std::string> ReferenceSystems::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {path + ": cannot read reference file"};
  std::stringstream text;
  text << in.rdbuf();
  return load_text(text.str(), path);
}

std::vector<std::string> ReferenceSystems::load_text(std::string_view text,
                                                     const std::string& name) {
  std::vector<std::string> errors;
  constexpr std::string_view kPrefix = "config reference:";
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = core::trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    if (!line.starts_with(kPrefix)) {
      errors.push_back(where + "expected 'config reference: system url-prefix'");
      continue;
    }
    const std::string_view body = core::trim(line.substr(kPrefix.size()));
    const auto space = body.find_first_of(" \t");
    std::string system(body.substr(0, space));
    const std::string_view prefix =
        space == std::string_view::npos ? std::string_view() : core::trim(body.substr(space));
    // Suricata: a letter, then letters, digits, '-' or '_'.
    bool valid = !system.empty() && std::isalpha(static_cast<unsigned char>(system.front()));
    for (const char c : system) {
      valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    }
    if (!valid || prefix.empty()) {
      errors.push_back(where + "expected 'config reference: system url-prefix', got '" +
                       std::string(body) + "'");
      continue;
    }
    for (char& c : system) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    prefixes_.emplace(std::move(system), std::string(prefix));  // the first definition wins
  }
  return errors;
}

const std::string* ReferenceSystems::find(std::string_view system) const {
  const auto it = prefixes_.find(system);
  return it == prefixes_.end() ? nullptr : &it->second;
}

void resolve_references(const ReferenceSystems& systems, std::vector<Rule>& rules,
                        std::vector<Diagnostic>& diagnostics) {
  for (Rule& rule : rules) {
    std::string unknown;
    for (Reference& ref : rule.references) {
      if (const std::string* prefix = systems.find(ref.type)) {
        ref.url = *prefix + ref.value;
      } else {
        ref.url = ref.type + "," + ref.value;
        if (unknown.find("'" + ref.type + "'") == std::string::npos) {
          unknown += (unknown.empty() ? "'" : ", '") + ref.type + "'";
        }
      }
    }
    if (!unknown.empty()) {
      Diagnostic d;
      d.severity = Diagnostic::Severity::kWarning;
      d.file = rule.file;
      d.line = rule.line;
      d.column = 1;
      d.message =
          "reference system " + unknown + " is not in the reference file (printed as system,value)";
      d.reason = "unknown reference system";
      diagnostics.push_back(std::move(d));
    }
  }
}

}  // namespace spanguard::rules
