// Configuration declared once: every module lists its keys in a ParamSection table (name, type,
// range, default, help) next to the code that uses them. Loading a YAML file, `--set key=value`,
// the error messages and the documented example config (deploy/spanguard.yaml) are all derived from
// those tables.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanguard/core/time.h"

namespace spanguard::core {

enum class ParamType : uint8_t {
  kBool,
  kInt,
  kBytes,     // 65536, 64KiB, 256MiB, 1GiB (k/m/g and kb/mb/gb are binary too, as in Suricata)
  kDuration,  // 30s, 500ms, 2m, 1h, 250us; a bare number is seconds
  kString,
  kEnum,        // one of Param::choices ("a|b|c")
  kStringList,  // [a, b] or a single string
  kStringMap,   // {NAME: text, ...}: free-form names (rule variables, for instance)
  kRecordList,  // [{field: value, ...}, ...] with fields described by Param::fields
};

struct Param {
  std::string_view name;  // relative to its section; may be dotted ("timeout.established")
  ParamType type;
  std::string_view default_value;  // YAML text, parsed with the same rules as user input
  std::string_view help;           // one line
  double min = -std::numeric_limits<double>::infinity();  // numeric types, in bytes/seconds/units
  double max = std::numeric_limits<double>::infinity();
  std::string_view choices = {};       // kEnum
  std::span<const Param> fields = {};  // kRecordList: each record's keys (no nesting)
};

struct ParamSection {
  std::string_view name;  // top-level key: "capture", "flow"
  std::string_view help;
  std::span<const Param> params;
};

struct ConfigRecord;

// A validated value of one key, converted to its type once, when it was read.
class ConfigValue {
 public:
  ConfigValue() = default;

  bool as_bool() const;
  int64_t as_int() const;
  uint64_t as_bytes() const;
  Duration as_duration() const;
  const std::string& as_string() const;  // kString and kEnum
  const std::vector<std::string>& as_strings() const;
  const std::vector<std::pair<std::string, std::string>>& as_map() const;
  const std::vector<ConfigRecord>& as_records() const;
  const std::string& key() const { return key_; }        // full dotted key, for messages
  const std::string& origin() const { return origin_; }  // "file:line:col", "--set", or "default"

 private:
  friend class ConfigConverter;
  const Param* param_ = nullptr;
  std::string key_;
  std::string origin_;
  int64_t number_ = 0;  // kBool, kInt, kBytes, kDuration (ns)
  std::string text_;
  std::vector<std::string> list_;
  std::vector<std::pair<std::string, std::string>> map_;
  std::vector<ConfigRecord> records_;
};

struct ConfigRecord {
  // Absent fields take their Param's default.
  const ConfigValue& get(std::string_view field) const;
  bool has(std::string_view field) const;  // given explicitly
  std::vector<std::pair<std::string, ConfigValue>> fields;
};

class Config {
 public:
  explicit Config(std::vector<const ParamSection*> schema);

  // Reads and validates a YAML file; errors are ConfigError "path:line:col: key: reason".
  void load_file(const std::string& path);
  void load_string(std::string_view yaml, std::string_view origin);
  // "dotted.key=value", value in YAML (so lists work: --set capture.interfaces=[eth1,eth2]).
  void set(std::string_view assignment);

  const ConfigValue& get(std::string_view key) const;  // std::logic_error for an undeclared key
  bool is_set(std::string_view key) const;             // given by the user, not defaulted

  // The documented example: every key with its help, type, range and default.
  std::string documented_example() const;
  const std::vector<const ParamSection*>& schema() const { return schema_; }

 private:
  struct Entry {
    const Param* param;
    ConfigValue value;
    bool user_set = false;
  };
  const Entry* find(std::string_view key) const;
  bool is_prefix_of_key(std::string_view prefix) const;
  std::string suggest(std::string_view key) const;

  std::vector<const ParamSection*> schema_;
  std::map<std::string, Entry, std::less<>> entries_;
  friend class ConfigLoader;
};

}  // namespace spanguard::core
