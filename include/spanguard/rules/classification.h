// classtype definitions in Snort/Suricata's classification.config format:
//   config classification: shortname,Description,priority
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace spanguard::rules {

struct Classification {
  std::string description;
  uint32_t priority;
};

class Classifications {
 public:
  // Reads a classification.config; errors (file:line and why) are returned, good lines kept.
  std::vector<std::string> load_file(const std::string& path);
  std::vector<std::string> load_text(std::string_view text, const std::string& name);
  const Classification* find(std::string_view name) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, Classification, std::less<>> entries_;
};

}  // namespace spanguard::rules
