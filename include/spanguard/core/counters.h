// Counters are declared once per module (name + help, in the order of an enum) and incremented by
// the worker that owns them without atomic read-modify-write: each CounterSet has exactly one
// writer, and readers on other threads sum relaxed loads. Stats output, heartbeats and the replay
// summary all print from the same CounterGroup tables.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spanguard::core {

struct CounterDef {
  std::string_view name;  // dotted, relative to the group: "malformed.ipv4.bad_ihl"
  std::string_view help;
};

struct CounterGroup {
  std::string_view module;  // "decode": full counter names are "decode.<name>"
  std::span<const CounterDef> defs;
};

// One writer, any number of readers.
class CounterValues {
 public:
  explicit CounterValues(const CounterGroup& group)
      : group_(&group), values_(std::make_unique<std::atomic<uint64_t>[]>(group.defs.size())) {}

  void add(size_t index, uint64_t n = 1) {
    auto& v = values_[index];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(size_t index, uint64_t n) { values_[index].store(n, std::memory_order_relaxed); }
  uint64_t get(size_t index) const { return values_[index].load(std::memory_order_relaxed); }
  const CounterGroup& group() const { return *group_; }

 private:
  const CounterGroup* group_;
  std::unique_ptr<std::atomic<uint64_t>[]> values_;
};

// Typed front end: Counters<DecodeCounter> with DecodeCounter an enum whose last member is kCount.
template <typename Enum>
class Counters {
 public:
  explicit Counters(const CounterGroup& group) : values_(group) {}
  void inc(Enum e, uint64_t n = 1) { values_.add(static_cast<size_t>(e), n); }
  void set(Enum e, uint64_t n) { values_.set(static_cast<size_t>(e), n); }
  uint64_t get(Enum e) const { return values_.get(static_cast<size_t>(e)); }
  const CounterValues& values() const { return values_; }

 private:
  CounterValues values_;
};

// Sums of every counter of every source, by full name ("decode.packets"), in declaration order of
// the groups as first seen.
class CounterSnapshot {
 public:
  struct Entry {
    std::string name;
    std::string_view help;
    uint64_t value;
  };

  void add(const CounterValues& values);
  // One counter by full name (names made at run time, such as per-worker figures); `help` must
  // outlive the snapshot.
  void add(std::string name, std::string_view help, uint64_t value);
  uint64_t get(std::string_view full_name) const;  // 0 when absent
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace spanguard::core
