// Rule set compilation: scope and fast pattern per rule, deduplicated Hyperscan patterns, one
// database per scope (and per app-layer buffer), PCRE2 programs for verification.
#include "spanguard/detect/engine.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "spanguard/detect/transforms.h"

namespace spanguard::detect {

namespace {

constexpr core::Param kParams[] = {
    {
        .name = "stream_window",
        .type = core::ParamType::kBytes,
        .default_value = "4KiB",
        .help = "Bytes of each stream direction's past kept so that a rule's contents may lie in "
                "earlier segments than the one that completes the match (per flow direction with "
                "payload)",
        .min = 64,
        .max = 1 << 20,
    },
    {
        .name = "backtrack_limit",
        .type = core::ParamType::kInt,
        .default_value = "5000",
        .help = "Steps one rule's verification may take (each content occurrence tried counts); a "
                "rule that runs out does not match and is counted",
        .min = 1,
        .max = 10000000,
    },
    {
        .name = "pcre_match_limit",
        .type = core::ParamType::kInt,
        .default_value = "3500",
        .help = "PCRE2 match and depth limits per pcre evaluation",
        .min = 1,
        .max = 10000000,
    },
    {
        .name = "payload_excerpt",
        .type = core::ParamType::kBytes,
        .default_value = "256",
        .help = "Bytes of the triggering data carried in an alert (0: none)",
        .max = 65535,
    },
    {
        .name = "cache_dir",
        .type = core::ParamType::kString,
        .default_value = "\"\"",
        .help = "Directory keeping the compiled Hyperscan databases, keyed by a hash of their "
                "patterns, the Hyperscan version and the CPU: a restart or reload with unchanged "
                "rules reads them back instead of compiling (seconds for ET Open); empty: off",
    },
    {
        .name = "cache_max_bytes",
        .type = core::ParamType::kBytes,
        .default_value = "256MiB",
        .help = "Size the Hyperscan cache directory is kept within: the least recently used "
                "databases (of earlier rule sets) are removed when a rule set is compiled",
        .min = 1 << 20,
    },
    {
        .name = "profile_rules",
        .type = core::ParamType::kBool,
        .default_value = "false",
        .help = "Rule profiling: count each rule's checks and matches and time its verification "
                "(costs about two clock reads per check; replay --profile-rules prints the worst)",
    },
};
constexpr core::ParamSection kSection{"detect", "Rule matching", kParams};

// A content as a Hyperscan expression: every byte escaped, so that no byte is a metacharacter.
std::string literal_expression(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string e;
  e.reserve(bytes.size() * 4);
  for (const char ch : bytes) {
    const auto b = static_cast<uint8_t>(ch);
    e += "\\x";
    e += kHex[b >> 4];
    e += kHex[b & 15];
  }
  return e;
}

unsigned pcre_hs_flags(const std::string& flags) {
  unsigned f = 0;
  for (const char c : flags) {
    if (c == 'i') f |= HS_FLAG_CASELESS;
    if (c == 's') f |= HS_FLAG_DOTALL;
    if (c == 'm') f |= HS_FLAG_MULTILINE;
  }
  return f;
}

Scope scope_of(const rules::Rule& r) {
  // base64_data holds what was decoded from another buffer: that one decides.
  for (const rules::Match& m : r.matches) {
    const rules::Buffer b = r.buffer_of(m);
    if (b != rules::kPayloadBuffer && b != rules::kBase64Buffer) return Scope::kTransaction;
  }
  if (!r.buffer_sizes.empty() || !r.app_tests.empty()) return Scope::kTransaction;
  if (r.matches.empty()) return Scope::kHeader;
  const bool packet_keyword = r.dsize.has_value() || r.flags.has_value() || r.itype.has_value() ||
                              r.icode.has_value() || !r.header_tests.empty() ||
                              (r.flow && r.flow->no_stream);
  if (r.transport == rules::Transport::kTcp && !packet_keyword) return Scope::kStream;
  return Scope::kPacket;
}

}  // namespace

// Which protocol parsers and messages a rule depends on: a buffer or protocol no parser fills makes
// it wait; a transaction rule runs on the message its buffers come from (the request, the
// response, or — for buffers both messages have, such as http.header — the one its flow
// direction names, else both).
void DetectionEngine::classify_application(const rules::Rule& r, CompiledRule& cr) {
  if (r.app_proto != rules::AppProto::kNone && !registry_.has_parser(r.app_proto))
    cr.waiting = true;
  if (r.app_layer && !r.app_layer->negated && r.app_layer->proto != rules::AppProto::kFailed &&
      !registry_.has_parser(r.app_layer->proto))
    cr.waiting = true;
  for (const rules::AppFactTest& t : r.app_tests) {
    if (!registry_.has_parser(rules::protocol_of(t.fact))) cr.waiting = true;
  }
  if (cr.scope != Scope::kTransaction) return;
  bool request = false, response = false, payload = false;
  for (const rules::Buffer b : cr.program.buffers) {
    if (b == rules::kBase64Buffer) continue;  // decoded from one of the others
    if (b == rules::kPayloadBuffer) {
      payload = true;
      continue;
    }
    const rules::BufferDef& def = registry_.buffer(base_of(b));
    if (!def.filled || !registry_.has_parser(def.proto)) cr.waiting = true;
    request = request || def.side == rules::BufferSide::kRequest;
    response = response || def.side == rules::BufferSide::kResponse;
    cr.needs_body = cr.needs_body || def.body;
  }
  if (payload) {
    cr.needs_body = true;  // the payload of a transaction is its whole message
    transaction_payload_ = true;
  }
  const bool to_server = r.flow && r.flow->to_server;
  const bool to_client = r.flow && r.flow->to_client;
  if (response || (request && to_client)) {
    cr.tx_sides = kTxResponse;
  } else if (request || to_server) {
    cr.tx_sides = kTxRequest;
  } else {
    cr.tx_sides = to_client ? kTxResponse : kTxRequest | kTxResponse;
  }
  if (cr.needs_body && !cr.waiting) body_sides_ |= cr.tx_sides;
}

namespace {

// The content that nominates the rule: marked fast_pattern, else the longest non-negated one
// (preferring a non-payload buffer for transaction rules, whose buffers are short and specific).
const rules::Content* fast_pattern(const rules::Rule& r, Scope scope) {
  const rules::Content* best = nullptr;
  for (const rules::Content& c : r.contents) {
    // base64_data exists only while a rule is verified: no database scans it.
    if (c.negated || c.buffer == rules::kBase64Buffer) continue;
    if (scope != Scope::kTransaction && c.buffer != rules::kPayloadBuffer) continue;
    if (c.fast_pattern) return &c;
    const bool better =
        best == nullptr ||
        (scope == Scope::kTransaction && best->buffer == rules::kPayloadBuffer &&
         c.buffer != rules::kPayloadBuffer) ||
        ((c.buffer != rules::kPayloadBuffer) == (best->buffer != rules::kPayloadBuffer) &&
         c.bytes.size() > best->bytes.size());
    if (better) best = &c;
  }
  return best;
}

// A stream rule's content anchored to the start of its buffer (offset/depth or startswith, not
// relative), the longest if several: the pattern that nominates the rule on each delivered chunk.
const rules::Content* anchored_content(const rules::Rule& r) {
  const rules::Content* best = nullptr;
  for (const rules::Content& c : r.contents) {
    if (c.negated || c.buffer != rules::kPayloadBuffer || c.relative() || c.endswith ||
        !c.fixed_anchor())
      continue;
    if (!c.startswith && !c.depth) continue;
    if (best == nullptr || c.bytes.size() > best->bytes.size()) best = &c;
  }
  return best;
}

rules::Diagnostic rule_error(const rules::Rule& r, std::string message, std::string reason) {
  rules::Diagnostic d;
  d.severity = rules::Diagnostic::Severity::kError;
  d.file = r.file;
  d.line = r.line;
  d.column = 1;
  d.message = std::move(message);
  d.reason = std::move(reason);
  return d;
}

}  // namespace

const core::ParamSection& detect_params() { return kSection; }

// A rule's transformed buffers get ids shared by the rule set: the same buffer through the same
// transforms is computed once per inspection, and its contents go into one database.
void DetectionEngine::number_transformed(rules::Rule& r) {
  if (r.transformed.empty()) return;
  const size_t first_local = registry_.buffer_count();
  std::vector<rules::Buffer> global(r.transformed.size());
  for (size_t i = 0; i < r.transformed.size(); ++i) {
    const rules::TransformedBuffer& t = r.transformed[i];
    auto it = std::find_if(transformed_.begin(), transformed_.end(), [&](const auto& known) {
      return known.base == t.base && known.chain == t.chain;
    });
    if (it == transformed_.end()) {
      if (first_local + transformed_.size() >= rules::Registry::kNoBuffer)
        throw std::runtime_error("too many distinct transformed buffers");
      std::vector<Pcre2Code> regexes;
      for (const rules::Transform& step : t.chain) {
        if (step.kind == rules::Transform::Kind::kPcrexform) {
          regexes.push_back(compile_pcrexform(step.key));  // std::invalid_argument: rule refused
        }
      }
      transformed_.push_back(t);
      transform_regexes_.push_back(std::move(regexes));
      it = transformed_.end() - 1;
    }
    global[i] = static_cast<rules::Buffer>(first_local + (it - transformed_.begin()));
  }
  auto renumber = [&](rules::Buffer& b) {
    if (b >= first_local) b = global[b - first_local];
  };
  for (rules::Content& c : r.contents) renumber(c.buffer);
  for (rules::Pcre& p : r.pcres) renumber(p.buffer);
  for (rules::DataAt& d : r.data_at) renumber(d.buffer);
  for (rules::ByteTest& t : r.byte_tests) renumber(t.buffer);
  for (rules::ByteJump& j : r.byte_jumps) renumber(j.buffer);
  for (rules::ByteExtract& e : r.byte_extracts) renumber(e.buffer);
  for (rules::ByteMath& m : r.byte_maths) renumber(m.buffer);
  for (rules::Asn1& a : r.asn1s) renumber(a.buffer);
  if (r.base64) renumber(r.base64->buffer);
  for (rules::BufferSize& s : r.buffer_sizes) renumber(s.buffer);
}

DetectOptions detect_options(const core::Config& c) {
  DetectOptions o;
  o.stream_window = static_cast<uint32_t>(c.get("detect.stream_window").as_bytes());
  o.backtrack_limit = static_cast<uint32_t>(c.get("detect.backtrack_limit").as_int());
  o.pcre_match_limit = static_cast<uint32_t>(c.get("detect.pcre_match_limit").as_int());
  o.payload_excerpt = static_cast<uint32_t>(c.get("detect.payload_excerpt").as_bytes());
  o.profile_rules = c.get("detect.profile_rules").as_bool();
  o.cache_dir = c.get("detect.cache_dir").as_string();
  o.cache_max_bytes = c.get("detect.cache_max_bytes").as_bytes();
  return o;
}

const char* to_string(Scope s) {
  switch (s) {
    case Scope::kStream:
      return "stream";
    case Scope::kPacket:
      return "packet";
    case Scope::kTransaction:
      return "transaction";
    case Scope::kHeader:
      return "header";
    case Scope::kCount:
      break;
  }
  return "?";
}

DetectionEngine::DetectionEngine(std::vector<rules::Rule> rule_list, const DetectOptions& options,
                                 std::vector<rules::Diagnostic>& diagnostics,
                                 const rules::Registry& registry)
    : options_(options), registry_(registry), rules_(std::move(rule_list)) {
  const auto started = std::chrono::steady_clock::now();
  // A pcrexform regex PCRE2 refuses makes its rule an error, reported with the others below.
  std::vector<std::string> transform_errors(rules_.size());
  for (size_t i = 0; i < rules_.size(); ++i) {
    try {
      number_transformed(rules_[i]);
    } catch (const std::invalid_argument& e) {
      transform_errors[i] = std::string("pcrexform: ") + e.what();
    }
  }
  const size_t buffer_count = this->buffer_count();
  // Database slots: one per scope, then one per transaction buffer, then the chunk database.
  const size_t chunk_slot = static_cast<size_t>(Scope::kCount) + buffer_count;
  const size_t slots = chunk_slot + 1;
  std::vector<std::vector<hyperscan::Pattern>> patterns(slots);
  buffer_databases_.resize(buffer_count);
  std::map<std::tuple<size_t, std::string, unsigned, unsigned long long>, unsigned> ids;
  std::map<std::string, uint16_t, std::less<>> flowbit_ids;
  std::map<std::string, uint16_t, std::less<>> xbit_ids;
  std::map<std::string, uint16_t, std::less<>> flowint_ids;

  compiled_.reserve(rules_.size());
  for (const rules::Rule& r : rules_) {
    if (const std::string& e = transform_errors[static_cast<size_t>(&r - rules_.data())];
        !e.empty()) {
      diagnostics.push_back(rule_error(r, e, "pcrexform rejected by PCRE2"));
      continue;
    }
    CompiledRule cr;
    cr.program.rule = &r;
    try {
      cr.program.index_buffers();
    } catch (const std::invalid_argument& e) {
      diagnostics.push_back(rule_error(r, e.what(), "too many buffers"));
      continue;
    }
    try {
      for (const rules::Pcre& p : r.pcres) cr.program.pcres.push_back(compile_pcre(p));
    } catch (const std::invalid_argument& e) {
      diagnostics.push_back(
          rule_error(r, std::string("pcre: ") + e.what(), "pcre rejected by PCRE2"));
      continue;
    }
    for (const rules::Content& c : r.contents) {
      std::string folded = c.bytes;
      if (c.nocase) {
        for (char& ch : folded)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      cr.program.folded.push_back(std::move(folded));
    }
    for (const rules::FlowbitOp& op : r.flowbits) {
      CompiledFlowbit fb{op.cmd, {}, op.any};
      for (const std::string& name : op.names) {
        auto [it, inserted] =
            flowbit_ids.emplace(name, static_cast<uint16_t>(flowbit_names_.size()));
        if (inserted) {
          if (flowbit_names_.size() == UINT16_MAX)
            throw std::runtime_error("more than 65535 flowbit names in one rule set");
          flowbit_names_.push_back(name);
        }
        fb.bits.push_back(it->second);
      }
      cr.sets_flowbits = cr.sets_flowbits || !op.is_condition();
      cr.flowbits.push_back(std::move(fb));
    }
    for (const rules::FlowintOp& op : r.flowints) {
      const auto id_of = [&](const std::string& name) {
        auto [it, inserted] = flowint_ids.emplace(name, static_cast<uint16_t>(flowint_ids.size()));
        if (inserted && flowint_ids.size() > UINT16_MAX)
          throw std::runtime_error("more than 65535 flowint names in one rule set");
        return it->second;
      };
      CompiledFlowint f{op.op, id_of(op.name)};
      f.value = op.value;
      if (!op.value_name.empty()) f.value_id = id_of(op.value_name);
      cr.flowints.push_back(f);
    }
    for (const rules::XbitOp& op : r.xbits) {
      auto [it, inserted] = xbit_ids.emplace(op.name, static_cast<uint16_t>(xbit_ids.size()));
      if (inserted && xbit_ids.size() > UINT16_MAX)
        throw std::runtime_error("more than 65535 xbit names in one rule set");
      cr.xbits.push_back({op.cmd, it->second, op.track, std::chrono::seconds(op.expire)});
      cr.sets_flowbits = cr.sets_flowbits || (op.cmd != rules::FlowbitOp::Cmd::kIsSet &&
                                              op.cmd != rules::FlowbitOp::Cmd::kIsNotSet);
    }
    cr.scope = scope_of(r);
    const auto index = static_cast<uint32_t>(compiled_.size());
    classify_application(r, cr);
    if (cr.waiting) {
      ++stats_.waiting_for_app;
    } else if (r.app_proto != rules::AppProto::kNone || cr.scope == Scope::kTransaction) {
      ++stats_.application;
    }
    ++stats_.by_scope[static_cast<size_t>(cr.scope)];

    if (cr.scope == Scope::kHeader) {
      header_rules_.add(index, r);
      compiled_.push_back(std::move(cr));
      continue;
    }
    hyperscan::Pattern pattern;
    size_t slot = static_cast<size_t>(cr.scope);
    if (const rules::Content* fp = fast_pattern(r, cr.scope)) {
      pattern.expression = literal_expression(fp->bytes);
      pattern.flags = fp->nocase ? HS_FLAG_CASELESS : 0;
      if (!fp->relative() && fp->depth && fp->fixed_anchor() && !fp->startswith && !fp->endswith) {
        pattern.max_offset = static_cast<unsigned long long>(fp->offset.value_or(0) + *fp->depth);
      }
      if (cr.scope == Scope::kTransaction)
        slot = static_cast<size_t>(Scope::kCount) + static_cast<size_t>(fp->buffer);
    } else {
      // No content to nominate it: the first non-negated pcre in prefilter mode, if Hyperscan
      // takes it.
      for (const rules::Pcre& p : r.pcres) {
        if (p.negated || (cr.scope != Scope::kTransaction && p.buffer != rules::kPayloadBuffer))
          continue;
        hyperscan::Pattern candidate;
        candidate.expression =
            (p.pcre_flags.find('x') != std::string::npos ? "(?x)" : "") + p.pattern;
        candidate.flags = HS_FLAG_PREFILTER | pcre_hs_flags(p.pcre_flags);
        try {
          hyperscan::compile(std::span(&candidate, 1), HS_MODE_BLOCK);
        } catch (const hyperscan::CompileFailure&) {
          continue;
        }
        pattern = std::move(candidate);
        ++stats_.pcre_prefilters;
        if (cr.scope == Scope::kTransaction)
          slot = static_cast<size_t>(Scope::kCount) + static_cast<size_t>(p.buffer);
        break;
      }
    }
    if (pattern.expression.empty()) {
      unprefiltered_[static_cast<size_t>(cr.scope)].push_back(index);
      ++stats_.unprefiltered;
      diagnostics.push_back(
          {rules::Diagnostic::Severity::kWarning, r.file, r.line, 1,
           "sid:" + std::to_string(r.sid) +
               " has no content or pcre Hyperscan can prefilter: it is verified on every " +
               to_string(cr.scope) + " its header admits (slow)",
           "no fast pattern"});
    } else {
      const auto key = std::make_tuple(slot, pattern.expression, pattern.flags, pattern.max_offset);
      auto [it, inserted] = ids.emplace(key, static_cast<unsigned>(pattern_rules_.size()));
      if (inserted) {
        pattern.id = it->second;
        patterns[slot].push_back(std::move(pattern));
        pattern_rules_.emplace_back();
      }
      pattern_rules_[it->second].push_back(index);
      cr.prefiltered = true;
    }
    // Anchored stream rules also run on each delivered chunk, positions counted from its start
    // (what Snort and Suricata do with a packet's payload), nominated by their anchored content.
    if (const rules::Content* a = cr.scope == Scope::kStream ? anchored_content(r) : nullptr) {
      hyperscan::Pattern anchored;
      anchored.expression = literal_expression(a->bytes);
      anchored.flags = a->nocase ? HS_FLAG_CASELESS : 0;
      const int64_t bound = a->startswith ? static_cast<int64_t>(a->bytes.size())
                                          : int64_t{a->offset.value_or(0)} + *a->depth;
      anchored.max_offset = static_cast<unsigned long long>(std::max<int64_t>(bound, 0));
      chunk_bound_ = std::max<size_t>(chunk_bound_, static_cast<size_t>(anchored.max_offset));
      const auto key =
          std::make_tuple(chunk_slot, anchored.expression, anchored.flags, anchored.max_offset);
      auto [it, inserted] = ids.emplace(key, static_cast<unsigned>(pattern_rules_.size()));
      if (inserted) {
        anchored.id = it->second;
        patterns[chunk_slot].push_back(std::move(anchored));
        pattern_rules_.emplace_back();
      }
      pattern_rules_[it->second].push_back(index);
      ++stats_.anchored;
    }
    compiled_.push_back(std::move(cr));
  }

  // Files of this rule set are used or written from now on: pruning leaves them.
  const auto cache_in_use_since = std::filesystem::file_time_type::clock::now();
  for (size_t slot = 0; slot < slots; ++slot) {
    if (patterns[slot].empty()) continue;
    const unsigned mode =
        slot == static_cast<size_t>(Scope::kStream) ? HS_MODE_STREAM : HS_MODE_BLOCK;
    hyperscan::Database db;
    bool from_cache = false;
    try {
      db = hyperscan::compile(patterns[slot], mode, options_.cache_dir, &from_cache);
      ++stats_.databases;
      if (from_cache) ++stats_.cached_databases;
    } catch (const hyperscan::CompileFailure& e) {
      // Literal expressions and pre-tested prefilters should never fail; if one does, name it.
      throw std::runtime_error(std::string("Hyperscan could not compile the rule set: ") +
                               e.what());
    }
    stats_.database_bytes += hyperscan::database_bytes(db.get());
    if (mode == HS_MODE_STREAM) stats_.stream_state_bytes = hyperscan::stream_state_bytes(db.get());
    if (slot < static_cast<size_t>(Scope::kCount))
      databases_[slot] = std::move(db);
    else if (slot == chunk_slot)
      chunk_database_ = std::move(db);
    else
      buffer_databases_[slot - static_cast<size_t>(Scope::kCount)] = std::move(db);
  }
  if (!options_.cache_dir.empty()) {
    hyperscan::prune_cache(options_.cache_dir, options_.cache_max_bytes, cache_in_use_since);
  }
  judge_rank_.reserve(compiled_.size());
  for (const CompiledRule& cr : compiled_) {
    judge_rank_.push_back(cr.rule().action == rules::Action::kPass ? 0 : cr.sets_flowbits ? 1 : 2);
  }
  stats_.rules = compiled_.size();
  stats_.patterns = pattern_rules_.size();
  stats_.flowbits = flowbit_names_.size();
  stats_.compile_time = std::chrono::steady_clock::now() - started;
}

}  // namespace spanguard::detect
