#include "spanguard/detect/xbits.h"

#include <iterator>

namespace spanguard::detect {

bool XbitStore::isset(const Key& k, core::Timestamp now) const {
  std::lock_guard lock(mutex_);
  const auto it = expiry_.find(k);
  return it != expiry_.end() && now < it->second;
}

void XbitStore::set_locked(const Key& k, core::Timestamp now, core::Duration lifetime) {
  if (const auto it = expiry_.find(k); it != expiry_.end()) {
    it->second = now + lifetime;  // set again: the expiry moves on
    return;
  }
  if (expiry_.size() >= max_bits_) {
    std::erase_if(expiry_, [&](const auto& e) { return e.second <= now; });
    if (expiry_.size() >= max_bits_) {
      ++refused_;
      return;
    }
  }
  expiry_.emplace(k, now + lifetime);
}

void XbitStore::set(const Key& k, core::Timestamp now, core::Duration lifetime) {
  std::lock_guard lock(mutex_);
  set_locked(k, now, lifetime);
}

void XbitStore::unset(const Key& k) {
  std::lock_guard lock(mutex_);
  expiry_.erase(k);
}

void XbitStore::toggle(const Key& k, core::Timestamp now, core::Duration lifetime) {
  std::lock_guard lock(mutex_);
  const auto it = expiry_.find(k);
  if (it != expiry_.end() && now < it->second) {
    expiry_.erase(it);
  } else {
    if (it != expiry_.end()) expiry_.erase(it);  // expired: toggling sets it anew
    set_locked(k, now, lifetime);
  }
}

size_t XbitStore::size() const {
  std::lock_guard lock(mutex_);
  return expiry_.size();
}

uint64_t XbitStore::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

}  // namespace spanguard::detect
