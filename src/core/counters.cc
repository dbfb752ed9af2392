// Summation of per-worker counters into one snapshot.
#include "spanguard/core/counters.h"

namespace spanguard::core {

void CounterSnapshot::add(const CounterValues& values) {
  const CounterGroup& group = values.group();
  for (size_t i = 0; i < group.defs.size(); ++i) {
    std::string name;
    name.reserve(group.module.size() + 1 + group.defs[i].name.size());
    name.append(group.module).append(".").append(group.defs[i].name);
    add(std::move(name), group.defs[i].help, values.get(i));
  }
}

void CounterSnapshot::add(std::string name, std::string_view help, uint64_t value) {
  auto [it, inserted] = index_.try_emplace(name, entries_.size());
  if (inserted) entries_.push_back({std::move(name), help, 0});
  entries_[it->second].value += value;
}

uint64_t CounterSnapshot::get(std::string_view full_name) const {
  const auto it = index_.find(full_name);
  return it == index_.end() ? 0 : entries_[it->second].value;
}

}  // namespace spanguard::core
