// One rule's options being read: the builder every keyword family (keywords_<family>.cc) adds
// its handlers to, and the argument helpers the families share. Internal to the rules module.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanguard/core/text.h"
#include "spanguard/rules/parser.h"

namespace spanguard::rules::detail {

using core::trim;

// Thrown inside one rule's parse; caught per rule.
struct RuleError {
  size_t offset;  // in the rule's text
  std::string message;
  std::string reason;
};

[[noreturn]] void fail(size_t offset, std::string message, std::string reason = {});
bool parse_int(std::string_view text, int64_t& out);
// A number as byte_* and header keywords write them: decimal (optionally negative) or 0x hex.
bool parse_number(std::string_view text, int64_t& out);
// Comma-separated arguments, each trimmed.
std::vector<std::string_view> split_args(std::string_view v);
// The commands flowbits and xbits share.
std::optional<FlowbitOp::Cmd> bit_command(std::string_view name);

class RuleBuilder {
 public:
  RuleBuilder(Rule& rule, const Classifications* classifications, const Registry& registry,
              std::vector<std::pair<std::string, size_t>>& warnings)
      : rule_(rule), classifications_(classifications), registry_(registry), warnings_(warnings) {}

  void option(std::string_view name, std::optional<std::string_view> value, size_t at,
              size_t value_at);
  void finish(size_t end);
  size_t sid_offset() const { return sid_at_; }  // where the sid option is written
  // Whether `name` is a keyword, sticky buffer or transform this parser accepts.
  static bool knows(std::string_view name, const Registry& registry);

 private:
  using Handler = void (RuleBuilder::*)(std::string_view, size_t);
  struct Keyword {
    std::string_view name;
    Handler handler;
    bool takes_value;  // true: required; false: none allowed
  };
  // Each keyword family's table, defined with its handlers in keywords_<family>.cc.
  static std::span<const Keyword> meta_keywords();
  static std::span<const Keyword> content_keywords();
  static std::span<const Keyword> header_keywords();
  static std::span<const Keyword> flow_keywords();
  static std::span<const Keyword> buffer_keywords();
  static std::span<const Keyword> byte_keywords();

  Content& last_content(std::string_view keyword, size_t at);
  int64_t number_arg(std::string_view keyword, std::string_view v, size_t at, int64_t lo,
                     int64_t hi);
  std::string quoted(std::string_view keyword, std::string_view v, size_t at, bool& negated,
                     bool keep_escapes = false);
  const Match* previous_in_buffer(Buffer b) const;

  void msg(std::string_view v, size_t at) {
    bool n;
    rule_.msg = quoted("msg", v, at, n);
  }
  void sid(std::string_view v, size_t at) {
    rule_.sid = static_cast<uint32_t>(number_arg("sid", v, at, 1, UINT32_MAX));
    sid_seen_ = true;
  }
  void rev(std::string_view v, size_t at) {
    rule_.rev = static_cast<uint32_t>(number_arg("rev", v, at, 0, UINT32_MAX));
  }
  void gid(std::string_view v, size_t at) {
    rule_.gid = static_cast<uint32_t>(number_arg("gid", v, at, 1, UINT32_MAX));
  }
  void priority(std::string_view v, size_t at) {
    rule_.priority = static_cast<uint32_t>(number_arg("priority", v, at, 1, 255));
    priority_seen_ = true;
  }
  void classtype(std::string_view v, size_t at);
  void metadata(std::string_view v, size_t at);
  void reference(std::string_view v, size_t at);
  void target(std::string_view v, size_t at);
  void content(std::string_view v, size_t at);
  void nocase(std::string_view, size_t at) { last_content("nocase", at).nocase = true; }
  void rawbytes(std::string_view, size_t at) { last_content("rawbytes", at); }
  void offset(std::string_view v, size_t at);
  void depth(std::string_view v, size_t at);
  void distance(std::string_view v, size_t at);
  void within(std::string_view v, size_t at);
  void fast_pattern(std::string_view v, size_t at);
  void startswith(std::string_view, size_t at);
  void endswith(std::string_view, size_t at);
  void pcre(std::string_view v, size_t at);
  void flow(std::string_view v, size_t at);
  void flags(std::string_view v, size_t at);
  void dsize(std::string_view v, size_t at);
  void bsize(std::string_view v, size_t at);
  void stream_size(std::string_view v, size_t at);
  void header_test(HeaderTest::Field field, std::string_view keyword, std::string_view v,
                   size_t at);
  void ttl(std::string_view v, size_t at) { header_test(HeaderTest::Field::kTtl, "ttl", v, at); }
  void tos(std::string_view v, size_t at) { header_test(HeaderTest::Field::kTos, "tos", v, at); }
  void id(std::string_view v, size_t at) { header_test(HeaderTest::Field::kIpId, "id", v, at); }
  void ip_proto(std::string_view v, size_t at);
  void window(std::string_view v, size_t at) {
    header_test(HeaderTest::Field::kWindow, "window", v, at);
  }
  void seq(std::string_view v, size_t at) { header_test(HeaderTest::Field::kSeq, "seq", v, at); }
  void ack(std::string_view v, size_t at) { header_test(HeaderTest::Field::kAck, "ack", v, at); }
  void icmp_id(std::string_view v, size_t at) {
    header_test(HeaderTest::Field::kIcmpId, "icmp_id", v, at);
  }
  void icmp_seq(std::string_view v, size_t at) {
    header_test(HeaderTest::Field::kIcmpSeq, "icmp_seq", v, at);
  }
  void sameip(std::string_view, size_t) { rule_.sameip = true; }
  void ftpdata_command(std::string_view v, size_t at);
  void xbits(std::string_view v, size_t at);
  void flowint(std::string_view v, size_t at);
  void itype(std::string_view v, size_t at) { once("itype", rule_.itype, v, at); }
  void icode(std::string_view v, size_t at) { once("icode", rule_.icode, v, at); }
  void once(std::string_view keyword, std::optional<SizeCondition>& out, std::string_view v,
            size_t at) {
    if (out) {
      fail(at, "'" + std::string(keyword) + "' given twice (write a range, e.g. 1<>20)",
           "'" + std::string(keyword) + "' given twice");
    }
    out = size_condition(keyword, v, at);
  }
  void urilen(std::string_view v, size_t at);
  void app_layer_protocol(std::string_view v, size_t at);
  void app_layer_event(std::string_view v, size_t at);
  void flowbits(std::string_view v, size_t at);
  void isdataat(std::string_view v, size_t at);
  void base64_decode(std::string_view v, size_t at);
  void byte_extract(std::string_view v, size_t at);
  void byte_math(std::string_view v, size_t at);
  void asn1(std::string_view v, size_t at);
  // Declares the rule variable `name` for `keyword` (byte_extract, byte_math); its index.
  int8_t new_variable(std::string_view keyword, std::string_view name, size_t at);
  // The index of byte_extract variable `name` in this rule, or kNoVariable.
  int8_t variable_of(std::string_view name) const {
    for (size_t i = 0; i < rule_.variables.size(); ++i) {
      if (rule_.variables[i] == name) return static_cast<int8_t>(i);
    }
    return kNoVariable;
  }
  // A content modifier's value: a number in [lo, hi] into `number`, or a variable into `var`.
  void modifier_value(std::string_view keyword, std::string_view v, size_t at, int64_t lo,
                      int64_t hi, std::optional<int32_t>& number, int8_t& var) {
    if (const int8_t i = variable_of(trim(v)); i != kNoVariable) {
      number = 0;
      var = i;
      return;
    }
    number = static_cast<int32_t>(number_arg(keyword, v, at, lo, hi));
  }
  void threshold(std::string_view v, size_t at) { alert_rate("threshold", v, at); }
  void detection_filter(std::string_view v, size_t at) { alert_rate("detection_filter", v, at); }
  void alert_rate(std::string_view keyword, std::string_view v, size_t at);
  void byte_test(std::string_view v, size_t at);
  void byte_jump(std::string_view v, size_t at);
  void noalert(std::string_view, size_t) { rule_.noalert = true; }
  void transform(Transform::Kind kind, std::string_view name, std::optional<std::string_view> v,
                 size_t at);
  SizeCondition size_condition(std::string_view keyword, std::string_view v, size_t at) const;
  void ignored(std::string_view, size_t) {}

  Rule& rule_;
  const Classifications* classifications_;
  const Registry& registry_;
  std::vector<std::pair<std::string, size_t>>& warnings_;
  Buffer buffer_ = kPayloadBuffer;  // the current sticky buffer
  bool sid_seen_ = false;
  size_t sid_at_ = 0;
  bool priority_seen_ = false;
};

}  // namespace spanguard::rules::detail
