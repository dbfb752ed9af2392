// Validation and conversion of YAML configuration against the modules' parameter tables.
#include "spanguard/core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "spanguard/core/error.h"

namespace spanguard::core {

namespace {

std::string where(const YAML::Node& node, std::string_view origin) {
  if (origin == "--set" || origin == "default") return std::string(origin);
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return std::string(origin);
  return std::string(origin) + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view type_description(const Param& p) {
  switch (p.type) {
    case ParamType::kBool:
      return "true or false";
    case ParamType::kInt:
      return "an integer";
    case ParamType::kBytes:
      return "a size such as 65536, 64KiB or 256MiB";
    case ParamType::kDuration:
      return "a duration such as 30s, 500ms, 2m or 1h";
    case ParamType::kString:
      return "a string";
    case ParamType::kEnum:
      return "one of the listed choices";
    case ParamType::kStringList:
      return "a list of strings";
    case ParamType::kStringMap:
      return "a mapping of names to strings";
    case ParamType::kRecordList:
      return "a list of mappings";
  }
  return "a value";
}

std::string_view type_name(const Param& p) {
  switch (p.type) {
    case ParamType::kBool:
      return "bool";
    case ParamType::kInt:
      return "integer";
    case ParamType::kBytes:
      return "size";
    case ParamType::kDuration:
      return "duration";
    case ParamType::kString:
      return "string";
    case ParamType::kEnum:
      return "enum";
    case ParamType::kStringList:
      return "list of strings";
    case ParamType::kStringMap:
      return "map of strings";
    case ParamType::kRecordList:
      return "list of records";
  }
  return "value";
}

// Splits "123.5MiB" into number and lower-case unit.
bool split_number(std::string_view text, double& number, std::string& unit) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || end != text.data() + i) return false;
  std::string_view rest = text.substr(i);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  unit = lower(rest);
  return true;
}

bool parse_bytes(std::string_view text, double& out) {
  double n = 0;
  std::string unit;
  if (!split_number(text, n, unit)) return false;
  static const std::pair<std::string_view, double> kUnits[] = {{"", 1},
                                                               {"b", 1},
                                                               {"k", 1024.0},
                                                               {"kb", 1024.0},
                                                               {"kib", 1024.0},
                                                               {"m", 1 << 20},
                                                               {"mb", 1 << 20},
                                                               {"mib", 1 << 20},
                                                               {"g", 1 << 30},
                                                               {"gb", 1 << 30},
                                                               {"gib", 1 << 30},
                                                               {"t", 1099511627776.0},
                                                               {"tib", 1099511627776.0}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      out = std::floor(n * scale);
      return true;
    }
  }
  return false;
}

bool parse_duration(std::string_view text, double& seconds) {
  double n = 0;
  std::string unit;
  if (!split_number(text, n, unit)) return false;
  static const std::pair<std::string_view, double> kUnits[] = {
      {"", 1},      {"s", 1},  {"sec", 1},  {"ms", 1e-3}, {"us", 1e-6},
      {"ns", 1e-9}, {"m", 60}, {"min", 60}, {"h", 3600},  {"d", 86400}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      seconds = n * scale;
      return true;
    }
  }
  return false;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << std::fixed;
  os.precision(v == std::floor(v) ? 0 : 3);
  os << v;
  return os.str();
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

// Turns one YAML node into a typed ConfigValue, or throws a ConfigError that names the key.
class ConfigConverter {
 public:
  static ConfigValue convert(const Param& p, const YAML::Node& node, const std::string& key,
                             const std::string& at) {
    ConfigValue v;
    v.param_ = &p;
    v.key_ = key;
    v.origin_ = at;
    auto fail = [&](const std::string& why) -> ConfigError {
      return ConfigError(at + ": " + key + ": " + why);
    };
    auto expected = [&]() -> ConfigError {
      std::string got = node.IsScalar()     ? "'" + node.Scalar() + "'"
                        : node.IsSequence() ? std::string("a list")
                        : node.IsMap()      ? std::string("a mapping")
                                            : std::string("nothing");
      std::string want(type_description(p));
      if (p.type == ParamType::kEnum) want = "one of " + std::string(p.choices);
      return fail("expected " + want + ", got " + got);
    };
    auto check_range = [&](double x, const std::string& shown) {
      if (x < p.min || x > p.max) {
        std::string range = std::isinf(p.min) ? "" : format_number(p.min);
        range += "..";
        range += std::isinf(p.max) ? "" : format_number(p.max);
        throw fail(shown + " is out of range " + range);
      }
    };

    switch (p.type) {
      case ParamType::kBool: {
        bool b = false;
        if (!node.IsScalar() || !YAML::convert<bool>::decode(node, b)) throw expected();
        v.number_ = b;
        break;
      }
      case ParamType::kInt: {
        if (!node.IsScalar()) throw expected();
        const std::string& s = node.Scalar();
        int64_t n = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size()) throw expected();
        check_range(static_cast<double>(n), s);
        v.number_ = n;
        break;
      }
      case ParamType::kBytes: {
        double n = 0;
        if (!node.IsScalar() || !parse_bytes(node.Scalar(), n)) throw expected();
        check_range(n, node.Scalar());
        v.number_ = static_cast<int64_t>(n);
        break;
      }
      case ParamType::kDuration: {
        double seconds = 0;
        if (!node.IsScalar() || !parse_duration(node.Scalar(), seconds)) throw expected();
        check_range(seconds, node.Scalar());
        v.number_ = static_cast<int64_t>(std::llround(seconds * 1e9));
        break;
      }
      case ParamType::kString:
        if (node.IsNull()) break;
        if (!node.IsScalar()) throw expected();
        v.text_ = node.Scalar();
        break;
      case ParamType::kEnum: {
        if (!node.IsScalar()) throw expected();
        bool found = false;
        std::string_view rest = p.choices;
        while (!rest.empty()) {
          const auto bar = rest.find('|');
          if (rest.substr(0, bar) == node.Scalar()) found = true;
          rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
        }
        if (!found) throw expected();
        v.text_ = node.Scalar();
        break;
      }
      case ParamType::kStringList:
        if (node.IsNull()) break;
        if (node.IsScalar()) {
          v.list_.push_back(node.Scalar());
          break;
        }
        if (!node.IsSequence()) throw expected();
        for (const auto& item : node) {
          if (!item.IsScalar()) throw fail("every list item must be a string");
          v.list_.push_back(item.Scalar());
        }
        break;
      case ParamType::kStringMap:
        if (node.IsNull()) break;
        if (!node.IsMap()) throw expected();
        for (const auto& kv : node) {
          if (!kv.second.IsScalar()) {
            throw fail("value of '" + kv.first.Scalar() + "' must be a string");
          }
          v.map_.emplace_back(kv.first.Scalar(), kv.second.Scalar());
        }
        break;
      case ParamType::kRecordList:
        if (node.IsNull()) break;
        if (!node.IsSequence()) throw expected();
        for (size_t i = 0; i < node.size(); ++i) {
          const YAML::Node item = node[i];
          const std::string item_key = key + "[" + std::to_string(i) + "]";
          const std::string item_at =
              at == "--set" || at == "default" ? at : where(item, file_of(at));
          if (!item.IsMap()) throw ConfigError(item_at + ": " + item_key + ": expected a mapping");
          ConfigRecord record;
          for (const auto& kv : item) {
            const std::string& field = kv.first.Scalar();
            const auto it = std::find_if(p.fields.begin(), p.fields.end(),
                                         [&](const Param& f) { return f.name == field; });
            if (it == p.fields.end()) {
              std::string known;
              for (const auto& f : p.fields)
                known += (known.empty() ? "" : ", ") + std::string(f.name);
              throw ConfigError(item_at + ": " + item_key + ": unknown field '" + field +
                                "' (fields: " + known + ")");
            }
            const std::string field_at =
                at == "--set" || at == "default" ? at : where(kv.second, file_of(at));
            record.fields.emplace_back(field,
                                       convert(*it, kv.second, item_key + "." + field, field_at));
          }
          v.records_.push_back(std::move(record));
        }
        break;
    }
    return v;
  }

  static ConfigValue from_default(const Param& p, const std::string& key) {
    try {
      const YAML::Node node = YAML::Load(std::string(p.default_value));
      return convert(p, node, key, "default");
    } catch (const YAML::Exception& e) {
      throw std::logic_error("default of " + key + " is not valid YAML: " + e.what());
    } catch (const ConfigError& e) {
      throw std::logic_error(std::string("bad default in parameter table: ") + e.what());
    }
  }

 private:
  // "file:3:4" -> "file" (the origin handed to where()).
  static std::string file_of(const std::string& at) {
    auto pos = at.rfind(':');
    if (pos == std::string::npos) return at;
    pos = at.rfind(':', pos - 1);
    return pos == std::string::npos ? at : at.substr(0, pos);
  }
};

namespace {

[[noreturn]] void wrong_type(const ConfigValue& v, std::string_view wanted) {
  throw std::logic_error("configuration key " + v.key() + " read as " + std::string(wanted));
}

}  // namespace

bool ConfigValue::as_bool() const {
  if (param_ == nullptr || param_->type != ParamType::kBool) wrong_type(*this, "bool");
  return number_ != 0;
}
int64_t ConfigValue::as_int() const {
  if (param_ == nullptr || param_->type != ParamType::kInt) wrong_type(*this, "int");
  return number_;
}
uint64_t ConfigValue::as_bytes() const {
  if (param_ == nullptr || param_->type != ParamType::kBytes) wrong_type(*this, "bytes");
  return static_cast<uint64_t>(number_);
}
Duration ConfigValue::as_duration() const {
  if (param_ == nullptr || param_->type != ParamType::kDuration) wrong_type(*this, "duration");
  return Duration(number_);
}
const std::string& ConfigValue::as_string() const {
  if (param_ == nullptr ||
      (param_->type != ParamType::kString && param_->type != ParamType::kEnum)) {
    wrong_type(*this, "string");
  }
  return text_;
}
const std::vector<std::string>& ConfigValue::as_strings() const {
  if (param_ == nullptr || param_->type != ParamType::kStringList) wrong_type(*this, "list");
  return list_;
}
const std::vector<std::pair<std::string, std::string>>& ConfigValue::as_map() const {
  if (param_ == nullptr || param_->type != ParamType::kStringMap) wrong_type(*this, "map");
  return map_;
}
const std::vector<ConfigRecord>& ConfigValue::as_records() const {
  if (param_ == nullptr || param_->type != ParamType::kRecordList) wrong_type(*this, "records");
  return records_;
}

bool ConfigRecord::has(std::string_view field) const {
  return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == field; });
}

const ConfigValue& ConfigRecord::get(std::string_view field) const {
  for (const auto& [name, value] : fields) {
    if (name == field) return value;
  }
  throw std::logic_error("record field " + std::string(field) + " not given; check has() first");
}

Config::Config(std::vector<const ParamSection*> schema) : schema_(std::move(schema)) {
  for (const ParamSection* section : schema_) {
    for (const Param& p : section->params) {
      std::string key = std::string(section->name) + "." + std::string(p.name);
      ConfigValue value = ConfigConverter::from_default(p, key);
      if (!entries_.try_emplace(key, Entry{&p, std::move(value), false}).second) {
        throw std::logic_error("configuration key declared twice: " + key);
      }
    }
  }
}

const Config::Entry* Config::find(std::string_view key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

bool Config::is_prefix_of_key(std::string_view prefix) const {
  const std::string with_dot = std::string(prefix) + ".";
  const auto it = entries_.lower_bound(with_dot);
  return it != entries_.end() && it->first.starts_with(with_dot);
}

std::string Config::suggest(std::string_view key) const {
  std::string best;
  size_t best_distance = 4;  // only close misspellings
  for (const auto& [name, entry] : entries_) {
    const size_t d = edit_distance(key, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// Walks a YAML document, mapping nested keys onto declared dotted keys.
class ConfigLoader {
 public:
  ConfigLoader(Config& config, std::string_view origin) : config_(config), origin_(origin) {}

  void walk(const YAML::Node& node, const std::string& prefix) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      throw ConfigError(where(node, origin_) + ": " + (prefix.empty() ? "document" : prefix) +
                        ": expected a mapping of keys");
    }
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      const std::string key = prefix.empty() ? name : prefix + "." + name;
      auto it = config_.entries_.find(key);
      if (it != config_.entries_.end()) {
        it->second.value =
            ConfigConverter::convert(*it->second.param, kv.second, key, where(kv.second, origin_));
        it->second.user_set = true;
      } else if (config_.is_prefix_of_key(key)) {
        walk(kv.second, key);
      } else {
        throw ConfigError(where(kv.first, origin_) + ": unknown key '" + key + "'" +
                          config_.suggest(key));
      }
    }
  }

 private:
  Config& config_;
  std::string origin_;
};

void Config::load_string(std::string_view yaml, std::string_view origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    throw ConfigError(std::string(origin) + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  }
  ConfigLoader(*this, origin).walk(root, "");
}

void Config::load_file(const std::string& path) {
  std::string text;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      throw ConfigError(path + ": cannot read configuration: " + std::strerror(errno));
    }
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
  }
  load_string(text, path);
}

void Config::set(std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw ConfigError("--set " + std::string(assignment) + ": expected KEY=VALUE");
  }
  const std::string key(assignment.substr(0, eq));
  const std::string text(assignment.substr(eq + 1));
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    throw ConfigError("--set " + std::string(assignment) + ": unknown key '" + key + "'" +
                      suggest(key));
  }
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + std::string(assignment) + ": " + key +
                      ": invalid value: " + e.msg);
  }
  // An empty right-hand side means the empty string / empty list, not "no value".
  if (text.empty()) node = YAML::Node(std::string());
  it->second.value = ConfigConverter::convert(*it->second.param, node, key, "--set");
  it->second.user_set = true;
}

const ConfigValue& Config::get(std::string_view key) const {
  const Entry* e = find(key);
  if (e == nullptr) throw std::logic_error("undeclared configuration key " + std::string(key));
  return e->value;
}

bool Config::is_set(std::string_view key) const {
  const Entry* e = find(key);
  return e != nullptr && e->user_set;
}

namespace {

// Writes `text` as comment lines of at most 100 columns.
void emit_comment(std::ostringstream& os, std::string_view text, const std::string& indent) {
  const size_t width = 100 - indent.size() - 2;
  while (!text.empty()) {
    size_t cut = text.size();
    if (cut > width) {
      cut = text.rfind(' ', width);
      if (cut == std::string_view::npos || cut == 0) cut = width;
    }
    os << indent << "# " << text.substr(0, cut) << "\n";
    text.remove_prefix(cut);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  }
}

void emit_param_doc(std::ostringstream& os, const Param& p, const std::string& indent) {
  emit_comment(os, p.help, indent);
  os << indent << "# type: " << type_name(p);
  if (p.type == ParamType::kEnum) os << " (" << p.choices << ")";
  if (!std::isinf(p.min) || !std::isinf(p.max)) {
    os << ", range " << (std::isinf(p.min) ? "" : format_number(p.min)) << ".."
       << (std::isinf(p.max) ? "" : format_number(p.max));
  }
  os << "\n";
  for (const Param& f : p.fields) {
    os << indent << "#   " << f.name << " (" << type_name(f);
    if (f.type == ParamType::kEnum) os << ": " << f.choices;
    os << (f.default_value.empty() ? "" : ", default " + std::string(f.default_value))
       << "): " << f.help << "\n";
  }
}

std::string default_text(const Param& p) {
  if (!p.default_value.empty()) return std::string(p.default_value);
  switch (p.type) {
    case ParamType::kStringList:
    case ParamType::kRecordList:
      return "[]";
    case ParamType::kStringMap:
      return "{}";
    default:
      return "\"\"";
  }
}

// Emits params (already sharing `prefix`) as nested YAML, grouping dotted names.
void emit_params(std::ostringstream& os, std::span<const Param* const> params, size_t prefix_len,
                 const std::string& indent) {
  std::vector<std::string> done_groups;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string_view rest = params[i]->name.substr(prefix_len);
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos) {
      emit_param_doc(os, *params[i], indent);
      os << indent << rest << ": " << default_text(*params[i]) << "\n\n";
      continue;
    }
    const std::string group(rest.substr(0, dot));
    if (std::find(done_groups.begin(), done_groups.end(), group) != done_groups.end()) continue;
    done_groups.push_back(group);
    std::vector<const Param*> members;
    for (size_t j = i; j < params.size(); ++j) {
      const std::string_view r = params[j]->name.substr(prefix_len);
      if (r.starts_with(group + ".")) members.push_back(params[j]);
    }
    os << indent << group << ":\n";
    emit_params(os, members, prefix_len + group.size() + 1, indent + "  ");
  }
}

}  // namespace

std::string Config::documented_example() const {
  std::ostringstream os;
  os << "# spanguard configuration: every key, its meaning, type, range and default.\n"
        "# Every key is optional; a key left out takes the default shown. Any key can also be\n"
        "# given on the command line as --set section.key=value.\n"
        "# Generated from the parameter tables in the source (`spanguard show-config`).\n\n";
  for (const ParamSection* section : schema_) {
    emit_comment(os, section->help, "");
    os << section->name << ":\n";
    std::vector<const Param*> params;
    for (const Param& p : section->params) params.push_back(&p);
    emit_params(os, params, 0, "  ");
  }
  std::string text = os.str();
  while (text.size() >= 2 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n') {
    text.pop_back();
  }
  return text;
}

}  // namespace spanguard::core
