// A minimal JSON writer for EVE lines built without a protobuf message.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace spanguard::output {

// A JSON line written straight into a string, for records printed at a high rate (flow records,
// stats): keys are literals the caller knows need no escaping; values are numbers, `plain` text
// the caller knows needs none (timestamps, addresses, fixed names, base64), or `text`, escaped as
// the protobuf printer (RapidJSON) escapes it. Members end in ',' until close() / end().
class JsonLine {
 public:
  explicit JsonLine(std::string& out) : out_(out) {}
  void open() { out_ += '{'; }
  void close() {
    out_.back() == ',' ? void(out_.back() = '}') : void(out_ += '}');
    out_ += ',';
  }
  void object(std::string_view key) {
    name(key);
    out_ += '{';
  }
  void end() {  // the last close: no separator after it
    if (out_.back() == ',') out_.pop_back();
  }
  // A value that needs no escaping.
  void plain(std::string_view key, std::string_view value) {
    name(key);
    out_ += '"';
    out_ += value;
    out_ += "\",";
  }
  // Any text, escaped as the printer (RapidJSON) escapes it.
  void text(std::string_view key, std::string_view value) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    name(key);
    out_ += '"';
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (u < 0x20) {
            out_ += "\\u00";
            out_ += kHex[u >> 4];
            out_ += kHex[u & 15];
          } else {
            out_ += c;
          }
      }
    }
    out_ += "\",";
  }
  void number(std::string_view key, uint64_t value) {
    name(key);
    char digits[24];
    const auto [p, ec] = std::to_chars(digits, digits + sizeof digits, value);
    out_.append(digits, p);
    out_ += ',';
  }
  void boolean(std::string_view key, bool value) {
    name(key);
    out_ += value ? "true," : "false,";
  }
  void array(std::string_view key) {
    name(key);
    out_ += '[';
  }
  void element(uint64_t value) {
    char digits[24];
    const auto [p, ec] = std::to_chars(digits, digits + sizeof digits, value);
    out_.append(digits, p);
    out_ += ',';
  }
  void close_array() {
    out_.back() == ',' ? void(out_.back() = ']') : void(out_ += ']');
    out_ += ',';
  }

 private:
  void name(std::string_view key) {
    out_ += '"';
    out_ += key;
    out_ += "\":";
  }
  std::string& out_;
};

}  // namespace spanguard::output
