// The reflection walk behind EVE JSON: fields in field-number order (as protobuf's printer, which
// reads the serialized message), values through a RapidJSON Writer into a per-thread buffer that
// is then appended to the caller's string. The per-thread printer keeps that buffer, the writer's
// stack and the scratch vectors, so that steady-state printing does not allocate.
#include "spanguard/output/json_printer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <typeinfo>
#include <utility>
#include <vector>

namespace spanguard::output {

namespace {

namespace pb = google::protobuf;
using Field = pb::FieldDescriptor;

// Nesting guard: only a self-referencing schema (Struct, Value) can go this deep.
constexpr int kMaxDepth = 100;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// A printer's buffer is kept between messages unless one message made it this large.
constexpr size_t kKeptBufferBytes = size_t{1} << 20;

// Length of the well-formed UTF-8 sequence at p[0..n) (Unicode 15, table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 with `*bad` set to the length of its maximal
// ill-formed subpart (§3.9 "U+FFFD substitution of maximal subparts").
size_t utf8_sequence(const unsigned char* p, size_t n, size_t* bad) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    const unsigned char min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
    if (k >= n || p[k] < min || p[k] > max) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}

// Printable ASCII without '"' or '\\': copied as it is between quotes (most EVE strings, and
// every field name). Eight bytes at a time: a byte below 0x20, at or above 0x80, or equal to either
// character sets its high bit in `special` (the classic has-zero-byte/has-less-than tests).
bool is_plain(const std::string& s) {
  constexpr uint64_t kOnes = ~uint64_t{0} / 255, kHigh = kOnes * 0x80;
  const auto has_zero = [&](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    const uint64_t special =
        ((v - kOnes * 0x20) & ~v) | v | has_zero(v ^ (kOnes * '"')) | has_zero(v ^ (kOnes * '\\'));
    if ((special & kHigh) != 0) return false;
  }
  for (; n > 0; ++p, --n) {
    const auto u = static_cast<unsigned char>(*p);
    if (u < 0x20 || u >= 0x80 || *p == '"' || *p == '\\') return false;
  }
  return true;
}

bool is_ascii(const std::string& s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// `s` with each maximal ill-formed subpart replaced by U+FFFD; true when anything was replaced.
bool repair_utf8(const std::string& s, std::string& repaired) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  bool replaced = false;
  repaired.clear();
  while (i < n) {
    size_t bad = 0;
    const size_t len = utf8_sequence(p + i, n - i, &bad);
    if (len > 0) {
      repaired.append(s, i, len);
      i += len;
    } else {
      repaired += "\xEF\xBF\xBD";
      i += bad;
      replaced = true;
    }
  }
  return replaced;
}

void append_base64(const std::string& bytes, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.clear();
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t{p[i]} << 16 | uint32_t{p[i + 1]} << 8 | p[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    const uint32_t v = uint32_t{p[i]} << 16 | (rest == 2 ? uint32_t{p[i + 1]} << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[v >> 12 & 63];
    out += rest == 2 ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
}

// Timestamp and Duration fractions as protobuf prints them: 0, 3, 6 or 9 digits.
void append_nanos(int32_t nanos, std::string& out) {
  if (nanos == 0) return;
  char buf[16];
  if (nanos % 1'000'000 == 0) {
    std::snprintf(buf, sizeof buf, ".%03d", nanos / 1'000'000);
  } else if (nanos % 1000 == 0) {
    std::snprintf(buf, sizeof buf, ".%06d", nanos / 1000);
  } else {
    std::snprintf(buf, sizeof buf, ".%09d", nanos);
  }
  out += buf;
}

class Printer {
 public:
  Printer() : writer_(buffer_), scratch_(kMaxDepth + 2) {}

  // Printed into the printer's own buffer (RapidJSON's, cheaper per character than a string's
  // push_back), then appended at once.
  bool print(const pb::Message& message, std::string& out) {
    buffer_.Clear();
    writer_.Reset(buffer_);
    const bool ok = message_value(message, message.GetDescriptor(), 0) && writer_.IsComplete();
    if (ok) out.append(buffer_.GetString(), buffer_.GetSize());
    if (buffer_.GetSize() > kKeptBufferBytes) {
      buffer_.Clear();
      buffer_.ShrinkToFit();
    }
    return ok;
  }

 private:
  // Per nesting level, so that a level's lists survive the levels below it.
  struct Scratch {
    std::vector<const Field*> fields;
    std::vector<std::pair<const std::string*, const pb::Value*>> entries;
    std::vector<std::pair<std::string, const pb::Message*>> keyed;
  };

  // A string that needs no escaping, in one copy: the writer places the separator (an empty raw
  // value), then the quoted bytes go straight into its buffer, as RawValue of the quoted text
  // would.
  bool plain_string(const std::string& s) {
    if (!writer_.RawValue("", 0, rapidjson::kStringType)) return false;
    char* p = buffer_.Push(s.size() + 2);
    *p = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    return true;
  }

  bool key(const std::string& name) { return string(name); }

  bool string(const std::string& s) {
    if (is_plain(s)) return plain_string(s);
    if (is_ascii(s) || !repair_utf8(s, text_)) {
      return writer_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    }
    return writer_.String(text_.data(), static_cast<rapidjson::SizeType>(text_.size()));
  }

  bool bytes(const std::string& b) {
    append_base64(b, text_);
    return writer_.String(text_.data(), static_cast<rapidjson::SizeType>(text_.size()));
  }

  // Integral values as integers (flow ids and counts are doubles holding integers), the rest in
  // the shortest form that reads back as the same value.
  template <typename Float>
  bool number(Float value) {
    const double d = value;
    if (!std::isfinite(d)) return writer_.Null();
    if (d == std::trunc(d) && std::fabs(d) < 9223372036854775808.0) {
      if (d == 0 && std::signbit(d)) return writer_.RawValue("-0", 2, rapidjson::kNumberType);
      return writer_.Int64(static_cast<int64_t>(d));
    }
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    if (ec != std::errc()) return writer_.Null();
    return writer_.RawValue(buf, static_cast<size_t>(end - buf), rapidjson::kNumberType);
  }

  bool enum_value(const pb::EnumDescriptor* type, int value) {
    if (type->full_name() == "google.protobuf.NullValue") return writer_.Null();
    // An open enum's unknown value prints as its number, as protobuf does.
    if (const auto* v = type->FindValueByNumber(value)) return string(v->name());
    return writer_.Int(value);
  }

  // A singular field's value (index < 0) or one element of a repeated field.
  bool field_value(const pb::Message& m, const pb::Reflection* r, const Field* f, int index,
                   int depth) {
    const bool rep = index >= 0;
    switch (f->cpp_type()) {
      case Field::CPPTYPE_INT32:
        return writer_.Int(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      case Field::CPPTYPE_UINT32:
        return writer_.Uint(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      case Field::CPPTYPE_INT64:
        return writer_.Int64(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      case Field::CPPTYPE_UINT64:
        return writer_.Uint64(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
      case Field::CPPTYPE_DOUBLE:
        return number(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      case Field::CPPTYPE_FLOAT:
        return number(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      case Field::CPPTYPE_BOOL:
        return writer_.Bool(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
      case Field::CPPTYPE_ENUM:
        return enum_value(f->enum_type(),
                          rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f));
      case Field::CPPTYPE_STRING: {
        const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &field_text_)
                                   : r->GetStringReference(m, f, &field_text_);
        return f->type() == Field::TYPE_BYTES ? bytes(s) : string(s);
      }
      case Field::CPPTYPE_MESSAGE:
        return message_value(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f),
                             f->message_type(), depth + 1);
    }
    return false;
  }

  // Map keys are strings in JSON: integers in decimal, bools as true/false.
  static std::string map_key(const pb::Message& entry, const Field* f) {
    const pb::Reflection* r = entry.GetReflection();
    switch (f->cpp_type()) {
      case Field::CPPTYPE_INT32:
        return std::to_string(r->GetInt32(entry, f));
      case Field::CPPTYPE_UINT32:
        return std::to_string(r->GetUInt32(entry, f));
      case Field::CPPTYPE_INT64:
        return std::to_string(r->GetInt64(entry, f));
      case Field::CPPTYPE_UINT64:
        return std::to_string(r->GetUInt64(entry, f));
      case Field::CPPTYPE_BOOL:
        return r->GetBool(entry, f) ? "true" : "false";
      default:
        return r->GetString(entry, f);
    }
  }

  // A map field as an object, keys sorted; through the entries' reflection (rare: the schema's
  // only map is Struct's, which has its own path).
  bool map_value(const pb::Message& m, const pb::Reflection* r, const Field* f, int depth) {
    if (depth > kMaxDepth) return false;
    const Field* key_field = f->message_type()->map_key();
    const Field* value_field = f->message_type()->map_value();
    auto& entries = scratch_[depth].keyed;
    entries.clear();
    const int n = r->FieldSize(m, f);
    for (int i = 0; i < n; ++i) {
      const pb::Message& entry = r->GetRepeatedMessage(m, f, i);
      entries.emplace_back(map_key(entry, key_field), &entry);
    }
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    writer_.StartObject();
    for (const auto& [name, entry] : entries) {
      if (!string(name) || !field_value(*entry, entry->GetReflection(), value_field, -1, depth)) {
        return false;
      }
    }
    return writer_.EndObject();
  }

  bool fields_object(const pb::Message& m, int depth) {
    const pb::Reflection* r = m.GetReflection();  // once per message: each call checks a once-flag
    auto& fields = scratch_[depth].fields;
    fields.clear();
    r->ListFields(m, &fields);  // set fields (proto3: non-default or explicitly present), by number
    writer_.StartObject();
    for (const Field* f : fields) {
      if (f->is_extension()) {
        field_text_ = "[" + f->full_name() + "]";
        if (!key(field_text_)) return false;
      } else if (!key(f->name())) {
        return false;
      }
      if (f->is_map()) {
        if (!map_value(m, r, f, depth + 1)) return false;
      } else if (f->is_repeated()) {
        writer_.StartArray();
        const int n = r->FieldSize(m, f);
        for (int i = 0; i < n; ++i) {
          if (!field_value(m, r, f, i, depth)) return false;
        }
        writer_.EndArray();
      } else if (!field_value(m, r, f, -1, depth)) {
        return false;
      }
    }
    return writer_.EndObject();
  }

  // google.protobuf.Struct, Value and ListValue as plain JSON: an object (keys sorted), whichever
  // kind the value holds (null when none), an array. Generated messages (the alert metadata) are
  // read through their classes: reflection over a map copies it into a repeated field first, and
  // costs several calls per level. Depth counts as in the reflection walk.
  bool struct_fields(const pb::Struct& s, int depth) {
    if (depth > kMaxDepth) return false;
    auto& entries = scratch_[depth].entries;
    entries.clear();
    for (const auto& [name, value] : s.fields()) entries.emplace_back(&name, &value);
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return *a.first < *b.first; });
    writer_.StartObject();
    for (const auto& [name, value] : entries) {
      if (!string(*name) || !value_kind(*value, depth + 1)) return false;
    }
    return writer_.EndObject();
  }

  bool list_values(const pb::ListValue& list, int depth) {
    if (depth > kMaxDepth) return false;
    writer_.StartArray();
    for (const pb::Value& value : list.values()) {
      if (!value_kind(value, depth + 1)) return false;
    }
    return writer_.EndArray();
  }

  bool value_kind(const pb::Value& value, int depth) {
    if (depth > kMaxDepth) return false;
    switch (value.kind_case()) {
      case pb::Value::kNumberValue:
        return number(value.number_value());
      case pb::Value::kStringValue:
        return string(value.string_value());
      case pb::Value::kBoolValue:
        return writer_.Bool(value.bool_value());
      case pb::Value::kStructValue:
        return struct_fields(value.struct_value(), depth + 1);
      case pb::Value::kListValue:
        return list_values(value.list_value(), depth + 1);
      case pb::Value::kNullValue:
      case pb::Value::KIND_NOT_SET:
        break;
    }
    return writer_.Null();
  }

  // The same through reflection, for dynamic messages.
  bool value_kind(const pb::Message& m, const pb::Descriptor* d, int depth) {
    const pb::Reflection* r = m.GetReflection();
    const Field* f = r->GetOneofFieldDescriptor(m, d->oneof_decl(0));
    if (f == nullptr) return writer_.Null();
    return field_value(m, r, f, -1, depth);
  }

  bool list_value(const pb::Message& m, const pb::Descriptor* d, int depth) {
    const pb::Reflection* r = m.GetReflection();
    const Field* f = d->field(0);  // repeated Value values = 1
    writer_.StartArray();
    const int n = r->FieldSize(m, f);
    for (int i = 0; i < n; ++i) {
      if (!message_value(r->GetRepeatedMessage(m, f, i), f->message_type(), depth + 1)) {
        return false;
      }
    }
    return writer_.EndArray();
  }

  // RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protobuf prints a Timestamp.
  bool timestamp(const pb::Message& m, const pb::Descriptor* d) {
    const pb::Reflection* r = m.GetReflection();
    const int64_t seconds = r->GetInt64(m, d->FindFieldByNumber(1));
    const int32_t nanos = r->GetInt32(m, d->FindFieldByNumber(2));
    // 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, protobuf's valid range.
    if (seconds < -62'135'596'800 || seconds > 253'402'300'799 || nanos < 0 ||
        nanos > 999'999'999) {
      return false;
    }
    // Days to civil date (H. Hinnant's algorithm) so that years before 1970 need no libc support.
    const int64_t days = (seconds >= 0 ? seconds : seconds - 86'399) / 86'400;
    const int64_t secs_of_day = seconds - days * 86'400;
    const int64_t z = days + 719'468;
    const int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    const int64_t doe = z - era * 146'097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    char buf[64];  // 20 bytes; GCC cannot see the ranges
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", static_cast<int>(year),
                  static_cast<int>(month), static_cast<int>(day),
                  static_cast<int>(secs_of_day / 3600), static_cast<int>(secs_of_day / 60 % 60),
                  static_cast<int>(secs_of_day % 60));
    text_ = buf;
    append_nanos(nanos, text_);
    text_ += 'Z';
    return writer_.String(text_.data(), static_cast<rapidjson::SizeType>(text_.size()));
  }

  // "1.500s", "-0.250s": seconds and the fraction, signed as a whole.
  bool duration(const pb::Message& m, const pb::Descriptor* d) {
    const pb::Reflection* r = m.GetReflection();
    const int64_t seconds = r->GetInt64(m, d->FindFieldByNumber(1));
    const int32_t nanos = r->GetInt32(m, d->FindFieldByNumber(2));
    constexpr int64_t kMaxSeconds = 315'576'000'000;  // 10000 years, protobuf's range
    if (seconds < -kMaxSeconds || seconds > kMaxSeconds || nanos < -999'999'999 ||
        nanos > 999'999'999 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
      return false;
    }
    text_.clear();
    if (seconds < 0 || nanos < 0) text_ += '-';
    text_ += std::to_string(seconds < 0 ? -seconds : seconds);
    append_nanos(nanos < 0 ? -nanos : nanos, text_);
    text_ += 's';
    return writer_.String(text_.data(), static_cast<rapidjson::SizeType>(text_.size()));
  }

  // Any and FieldMask need type resolution or name conversion: protobuf prints them.
  bool through_protobuf(const pb::Message& m, rapidjson::Type type) {
    pb::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    std::string json;
    if (!pb::util::MessageToJsonString(m, &json, options).ok()) return false;
    return writer_.RawValue(json.data(), json.size(), type);
  }

  // `d` is m's descriptor, known from the field that holds m (GetDescriptor costs a virtual call
  // and a once-flag check).
  bool message_value(const pb::Message& m, const pb::Descriptor* d, int depth) {
    if (depth > kMaxDepth) return false;
    switch (d->well_known_type()) {
      case pb::Descriptor::WELLKNOWNTYPE_UNSPECIFIED:
        return fields_object(m, depth);
      case pb::Descriptor::WELLKNOWNTYPE_STRUCT:
        if (typeid(m) == typeid(pb::Struct)) {
          return struct_fields(static_cast<const pb::Struct&>(m), depth);
        }
        return map_value(m, m.GetReflection(), d->field(0), depth);  // map<string, Value> fields
      case pb::Descriptor::WELLKNOWNTYPE_VALUE:
        if (typeid(m) == typeid(pb::Value)) {
          return value_kind(static_cast<const pb::Value&>(m), depth);
        }
        return value_kind(m, d, depth);
      case pb::Descriptor::WELLKNOWNTYPE_LISTVALUE:
        if (typeid(m) == typeid(pb::ListValue)) {
          return list_values(static_cast<const pb::ListValue&>(m), depth);
        }
        return list_value(m, d, depth);
      case pb::Descriptor::WELLKNOWNTYPE_TIMESTAMP:
        return timestamp(m, d);
      case pb::Descriptor::WELLKNOWNTYPE_DURATION:
        return duration(m, d);
      case pb::Descriptor::WELLKNOWNTYPE_ANY:
        return through_protobuf(m, rapidjson::kObjectType);
      case pb::Descriptor::WELLKNOWNTYPE_FIELDMASK:
        return through_protobuf(m, rapidjson::kStringType);
      default:  // the wrappers (DoubleValue ... BytesValue): their value, even when default
        return field_value(m, m.GetReflection(), d->field(0), -1, depth);
    }
  }

  rapidjson::StringBuffer buffer_;
  JsonWriter writer_;
  std::vector<Scratch> scratch_;
  std::string text_;        // a repaired string, base64, a timestamp: written at once
  std::string field_text_;  // GetStringReference's scratch, extension names
};

}  // namespace

bool append_json(const google::protobuf::Message& message, std::string& out) {
  thread_local Printer printer;
  return printer.print(message, out);
}

}  // namespace spanguard::output
