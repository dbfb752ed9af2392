// Flow slot ids by name (see flow.h): a short registry filled while stages are built.
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "spanguard/flow/flow.h"

namespace spanguard::flow {

uint8_t flow_slot_id(std::string_view name) {
  static std::mutex mutex;
  static std::vector<std::string> names;
  const std::lock_guard lock(mutex);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<uint8_t>(i);
  }
  if (names.size() == kMaxFlowSlots) {
    throw std::length_error("flow slot '" + std::string(name) + "': all " +
                            std::to_string(kMaxFlowSlots) + " flow slots are taken");
  }
  names.emplace_back(name);
  return static_cast<uint8_t>(names.size() - 1);
}

}  // namespace spanguard::flow
