// Buffer and protocol names for the rule parser and the detection engine.
#include "spanguard/rules/registry.h"

#include <algorithm>
#include <stdexcept>

namespace spanguard::rules {

Registry::Registry() {
  BufferDef payload;
  payload.name = "pkt_data";
  payload.filled = true;
  buffers_.push_back(std::move(payload));
  BufferDef base64;
  base64.name = "base64_data";
  base64.filled = true;
  buffers_.push_back(std::move(base64));
}

const Registry& Registry::payload_only() {
  static const Registry registry;
  return registry;
}

BufferId Registry::add_buffer(BufferDef def) {
  auto clash = [&](std::string_view what, std::string_view name) {
    throw std::invalid_argument("buffer '" + def.name + "': " + std::string(what) + " '" +
                                std::string(name) + "' is already taken");
  };
  if (def.name.empty()) throw std::invalid_argument("a buffer needs a name");
  for (const std::string* n : {&def.name, &def.alias}) {
    if (!n->empty() && find_sticky(*n) != kNoBuffer) clash("keyword", *n);
  }
  if (!def.legacy.empty() && find_legacy(def.legacy) != kNoBuffer) clash("modifier", def.legacy);
  if (def.pcre_flag != 0 && find_pcre_flag(def.pcre_flag) != kNoBuffer)
    clash("pcre flag", std::string(1, def.pcre_flag));
  if (buffers_.size() >= kNoBuffer) throw std::length_error("too many buffers");
  buffers_.push_back(std::move(def));
  return static_cast<BufferId>(buffers_.size() - 1);
}

void Registry::add_parser(AppProto proto) {
  if (!has_parser(proto)) parsers_.push_back(proto);
}

BufferId Registry::find_sticky(std::string_view keyword) const {
  for (size_t i = 0; i < buffers_.size(); ++i) {
    if (buffers_[i].name == keyword || (!buffers_[i].alias.empty() && buffers_[i].alias == keyword))
      return static_cast<BufferId>(i);
  }
  return kNoBuffer;
}

BufferId Registry::find_legacy(std::string_view modifier) const {
  for (size_t i = 0; i < buffers_.size(); ++i) {
    if (!buffers_[i].legacy.empty() && buffers_[i].legacy == modifier)
      return static_cast<BufferId>(i);
  }
  return kNoBuffer;
}

BufferId Registry::find_pcre_flag(char flag) const {
  for (size_t i = 0; i < buffers_.size(); ++i) {
    if (buffers_[i].pcre_flag == flag) return static_cast<BufferId>(i);
  }
  return kNoBuffer;
}

void Registry::add_event(Event e) {
  if (find_event(e.name) != nullptr) {
    throw std::invalid_argument("app-layer event '" + e.name + "' registered twice");
  }
  events_.push_back(std::move(e));
}

const Registry::Event* Registry::find_event(std::string_view name) const {
  for (const Event& e : events_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool Registry::has_parser(AppProto proto) const {
  return std::find(parsers_.begin(), parsers_.end(), proto) != parsers_.end();
}

}  // namespace spanguard::rules
