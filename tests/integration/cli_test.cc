// The spanguard binary as an operator meets it: exit codes (README's table) and error messages
// for bad input, inputs checked before rules are compiled, and what it logs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "capture_writer.h"
#include "process.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = temp_path(name);
  std::ofstream(path) << content;
  return path;
}

constexpr char kGoodRule[] =
    "alert tcp any any -> any 80 (msg:\"alert me\"; content:\"ALERT-ME\"; sid:77;)\n";

std::string good_rules() { return write_file("good.rules", kGoodRule); }

// A capture with `n` requests that each trigger kGoodRule, on their own connections.
std::string capture_with_alerts(const std::string& name, int n) {
  const std::string path = temp_path(name);
  CaptureWriter w(path);
  int64_t ts = 1'700'000'000'000'000'000;
  for (int i = 0; i < n; ++i) {
    TcpConversation c(
        {"198.51.100." + std::to_string(1 + i % 50), static_cast<uint16_t>(40000 + i), kClientMac},
        {"203.0.113." + std::to_string(1 + i % 7), 80, kServerMac});
    std::vector<Bytes> frames = c.handshake();
    for (const Bytes& f : c.client_sends("GET /?q=ALERT-ME HTTP/1.1\r\n\r\n")) frames.push_back(f);
    for (const Bytes& f : c.close()) frames.push_back(f);
    for (const Bytes& f : frames) w.write(f, ts += 1000);
  }
  return path;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A JSON object whose members are all strings (what --log-format json writes), decoded; nullopt
// when `line` is not exactly that.
std::optional<std::map<std::string, std::string>> parse_flat_json(const std::string& line) {
  size_t i = 0;
  const auto ws = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  };
  const auto string = [&]() -> std::optional<std::string> {
    if (i >= line.size() || line[i] != '"') return std::nullopt;
    std::string out;
    for (++i; i < line.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(line[i]);
      if (c == '"') {
        ++i;
        return out;
      }
      if (c < 0x20) return std::nullopt;  // raw control characters are not allowed
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (++i >= line.size()) return std::nullopt;
      switch (line[i]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i + 4 >= line.size()) return std::nullopt;
          const std::string hex = line.substr(i + 1, 4);
          if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
            return std::nullopt;
          }
          const unsigned long cp = std::stoul(hex, nullptr, 16);
          out += cp < 0x80 ? std::string(1, static_cast<char>(cp)) : "?";
          i += 4;
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  };
  std::map<std::string, std::string> members;
  ws();
  if (i >= line.size() || line[i++] != '{') return std::nullopt;
  for (;;) {
    ws();
    const auto key = string();
    ws();
    if (!key || i >= line.size() || line[i++] != ':') return std::nullopt;
    ws();
    const auto value = string();
    if (!value) return std::nullopt;
    members[*key] = *value;
    ws();
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    if (i < line.size() && line[i++] == '}') break;
    return std::nullopt;
  }
  ws();
  if (i != line.size()) return std::nullopt;
  return members;
}

std::vector<std::string> lines_in(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The alerts of an EVE file as "sid src_ip:src_port", sorted: comparable across worker counts.
std::vector<std::string> alert_keys(const std::string& eve_path) {
  std::vector<std::string> keys;
  const std::regex sid("\"signature_id\":(\\d+)"), src("\"src_ip\":\"([^\"]+)\""),
      port("\"src_port\":(\\d+)");
  for (const std::string& line : lines_of(eve_path)) {
    if (line.find("\"event_type\":\"alert\"") == std::string::npos) continue;
    std::smatch a, b, c;
    std::regex_search(line, a, sid);
    std::regex_search(line, b, src);
    std::regex_search(line, c, port);
    keys.push_back(a[1].str() + " " + b[1].str() + ":" + c[1].str());
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(Cli, VersionNamesTheLibraries) {
  const RunResult r = run({spanguard_binary(), "version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("spanguard "), std::string::npos);
  EXPECT_NE(r.out.find("libpcap"), std::string::npos);
  EXPECT_NE(r.out.find("hyperscan"), std::string::npos);
  EXPECT_NE(r.out.find("libnet"), std::string::npos);
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* cmd : {"version", "replay", "run", "check-rules", "show-config"}) {
    const RunResult r = run({spanguard_binary(), cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, MissingSubcommandOrRequiredFlagIsAUsageError) {
  EXPECT_EQ(run({spanguard_binary()}).status, 2);
  const RunResult r = run({spanguard_binary(), "replay"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--pcap is required"), std::string::npos) << r.err;
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", "x", "--workers", "257"}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", "x", "--workers", "-1"}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "check-rules"}).status, 2);
  EXPECT_EQ(run({collector_binary()}).status, 2);  // --listen is required
}

// README: 0 success, for every subcommand and the collector.
TEST(Cli, EverySubcommandExitsZeroOnSuccess) {
  EXPECT_EQ(run({spanguard_binary(), "version"}).status, 0);
  EXPECT_EQ(run({spanguard_binary(), "show-config"}).status, 0);
  EXPECT_EQ(run({spanguard_binary(), "check-rules", good_rules()}).status, 0);
  const RunResult replay = run({spanguard_binary(), "replay", "--pcap",
                                capture_with_alerts("ok.pcap", 1), "--rules", good_rules()});
  EXPECT_EQ(replay.status, 0) << replay.err;
  EXPECT_EQ(run({collector_binary(), "--version"}).status, 0);
  EXPECT_EQ(run({collector_binary(), "--help"}).status, 0);
}

// README: an unknown option is a usage error (2), whatever the subcommand; CLI11's own exit codes
// (106, 109, ...) never leak out.
TEST(Cli, UnknownFlagIsAUsageErrorForEverySubcommand) {
  const std::vector<std::vector<std::string>> commands = {{"version"},
                                                          {"replay", "--pcap", "x.pcap"},
                                                          {"run", "--interface", "lo"},
                                                          {"check-rules", "x.rules"},
                                                          {"show-config"}};
  for (const std::vector<std::string>& cmd : commands) {
    std::vector<std::string> argv = {spanguard_binary()};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    argv.push_back("--no-such-flag");
    const RunResult r = run(argv);
    EXPECT_EQ(r.status, 2) << cmd[0] << ": " << r.err;
    EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << cmd[0] << ": " << r.err;
  }
  EXPECT_EQ(run({spanguard_binary(), "no-such-command"}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", "x", "--workers", "many"}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", "x", "--log-format", "xml"}).status, 2);
  const RunResult collector =
      run({collector_binary(), "--listen", "tcp://127.0.0.1:0", "--no-such-flag"});
  EXPECT_EQ(collector.status, 2) << collector.err;
}

// README: a configuration error is 2 for every subcommand that reads configuration.
TEST(Cli, ConfigurationErrorIsTwoForEverySubcommandReadingIt) {
  const std::string bad = write_file("bad-key.yaml", "capture:\n  snaplenn: 100\n");
  const std::string pcap = capture_with_alerts("cfg.pcap", 1);
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", pcap, "-c", bad}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "run", "--interface", "lo", "-c", bad}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "check-rules", "-c", bad, good_rules()}).status, 2);
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", pcap, "-c", "/nonexistent.yaml"}).status,
            2);
}

// README: a refused rule is a rule error, 2 — check-rules used to exit 1.
TEST(Cli, CheckRulesExitsTwoOnABadRuleNamingIt) {
  const std::string rules =
      write_file("one-bad.rules", std::string(kGoodRule) +
                                      "alert tcp any any -> any 80 (msg:\"x\"; nosuchkeyword; "
                                      "sid:78;)\n");
  const RunResult r = run({spanguard_binary(), "check-rules", rules});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.out.find(rules + ":2:"), std::string::npos) << r.out;
  const RunResult missing = run({spanguard_binary(), "check-rules", "/nonexistent/x.rules"});
  EXPECT_EQ(missing.status, 2) << missing.out << missing.err;
  EXPECT_NE(missing.out.find("/nonexistent/x.rules"), std::string::npos) << missing.out;
}

// Inputs are checked before the rules are compiled (seconds for ET Open): the error comes first
// and no "rules loaded" line precedes it.
TEST(Cli, MissingCaptureIsReportedBeforeRulesAreCompiled) {
  const RunResult r =
      run({spanguard_binary(), "replay", "--pcap", capture_with_alerts("first.pcap", 1), "--pcap",
           "/nonexistent/b.pcap", "--rules", good_rules()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent/b.pcap: cannot read capture"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("rules loaded"), std::string::npos) << r.err;
}

TEST(Cli, UnwritableOutputPathIsReportedBeforeRulesAreCompiled) {
  const std::string pcap = capture_with_alerts("out.pcap", 1);
  for (const char* option : {"--eve", "--resets-pcap", "--profile-rules-file"}) {
    const RunResult r = run({spanguard_binary(), "replay", "--pcap", pcap, "--rules", good_rules(),
                             option, "/nonexistent/dir/out"});
    EXPECT_EQ(r.status, 1) << option;
    EXPECT_NE(r.err.find(std::string(option) +
                         " /nonexistent/dir/out: directory /nonexistent/dir does not exist"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("rules loaded"), std::string::npos) << r.err;
  }
  const RunResult dir = run({spanguard_binary(), "replay", "--pcap", pcap, "--eve", "/tmp"});
  EXPECT_EQ(dir.status, 1);
  EXPECT_NE(dir.err.find("--eve /tmp: is a directory"), std::string::npos) << dir.err;
}

TEST(Cli, UnreadableRuleFileIsAConfigErrorBeforeAnythingIsCompiled) {
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", capture_with_alerts("r.pcap", 1),
                           "--rules", good_rules(), "--rules", "/nonexistent/x.rules"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("/nonexistent/x.rules: cannot read rule file"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("rules loaded"), std::string::npos) << r.err;
}

TEST(Cli, UnreadableCaptureIsARuntimeErrorNamingTheFile) {
  const RunResult missing = run({spanguard_binary(), "replay", "--pcap", "/nonexistent/a.pcap"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("/nonexistent/a.pcap: cannot read capture"), std::string::npos)
      << missing.err;

  const std::string garbage = write_file("garbage.pcap", std::string(4096, 'Z'));
  const RunResult bad = run({spanguard_binary(), "replay", "--pcap", garbage});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find(garbage + ": cannot read capture: unknown file format"), std::string::npos)
      << bad.err;
}

TEST(Cli, ConfigErrorsNameTheKeyAndPlace) {
  const std::string garbage = write_file("x.pcap", "");
  const RunResult unknown =
      run({spanguard_binary(), "replay", "--pcap", garbage, "--set", "capture.snaplenn=100"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown key 'capture.snaplenn' (did you mean 'capture.snaplen'?)"),
            std::string::npos)
      << unknown.err;

  const std::string config = write_file("bad.yaml", "capture:\n  snaplen: huge\n");
  const RunResult typed = run({spanguard_binary(), "replay", "--pcap", garbage, "-c", config});
  EXPECT_EQ(typed.status, 2);
  EXPECT_NE(typed.err.find(config + ":2:12: capture.snaplen: expected an integer, got 'huge'"),
            std::string::npos)
      << typed.err;

  const RunResult level =
      run({spanguard_binary(), "replay", "--pcap", garbage, "--log-level", "loud"});
  EXPECT_EQ(level.status, 2);
  EXPECT_NE(level.err.find("log level 'loud'"), std::string::npos) << level.err;
}

TEST(Cli, RunWithoutInterfaceIsAUsageError) {
  const RunResult r = run({spanguard_binary(), "run"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no interface to capture from"), std::string::npos) << r.err;
}

// Checked by name before anything else, so no root is needed to learn of the typo.
TEST(Cli, MissingInterfaceIsARuntimeErrorNamingItBeforeRulesAreCompiled) {
  const RunResult r =
      run({spanguard_binary(), "run", "--interface", "sgnosuch0", "--rules", good_rules()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("interface 'sgnosuch0': no such interface"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("rules loaded"), std::string::npos) << r.err;
  const RunResult inject = run({spanguard_binary(), "run", "--interface", "lo",
                                "--inject-interface", "sgnosuch1", "--rules", good_rules()});
  EXPECT_EQ(inject.status, 1);
  EXPECT_NE(inject.err.find("--inject-interface 'sgnosuch1': no such interface"), std::string::npos)
      << inject.err;
  EXPECT_EQ(inject.err.find("rules loaded"), std::string::npos) << inject.err;
}

// --workers 0 is pipeline.workers: 0, one worker per core; the alerts are those of one worker.
TEST(Cli, WorkersZeroMeansOnePerCoreWithTheSameAlerts) {
  const std::string pcap = capture_with_alerts("workers.pcap", 40);
  std::vector<std::string> keys[2];
  for (int w = 0; w < 2; ++w) {
    const std::string eve = temp_path("workers-" + std::to_string(w) + ".json");
    const RunResult r = run({spanguard_binary(), "replay", "--pcap", pcap, "--rules", good_rules(),
                             "--eve", eve, "--workers", std::to_string(w)});
    ASSERT_EQ(r.status, 0) << r.err;
    keys[w] = alert_keys(eve);
  }
  EXPECT_EQ(keys[1].size(), 40u);
  EXPECT_EQ(keys[0], keys[1]);
}

// A load's rule problems come as one summary: counts by reason, the first three, and the command
// that lists them all — not a line per refused rule.
TEST(Cli, RuleProblemsAreSummarisedOncePerLoad) {
  std::string text = kGoodRule;
  for (int i = 0; i < 8; ++i) {
    text +=
        "alert tcp any any -> any 80 (msg:\"u\"; nosuchkeyword; sid:" + std::to_string(100 + i) +
        ";)\n";
  }
  for (int i = 0; i < 4; ++i) {
    text += "alert tcp any any -> any 80 (msg:\"p\"; pcre:\"/(/\"; sid:" + std::to_string(200 + i) +
            ";)\n";
  }
  const std::string rules = write_file("many-bad.rules", text);
  const RunResult r = run({spanguard_binary(), "replay", "--pcap",
                           capture_with_alerts("summary.pcap", 1), "--rules", rules});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(occurrences(r.err, "12 rule(s) refused"), 1u) << r.err;
  EXPECT_EQ(occurrences(r.err, "rule(s) refused"), 1u) << r.err;
  EXPECT_NE(r.err.find("\n       8  "), std::string::npos) << r.err;  // the largest reason first
  EXPECT_EQ(occurrences(r.err, rules + ":"), 3u) << r.err;            // three examples
  EXPECT_NE(r.err.find("see `spanguard check-rules " + rules + "`"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 rules loaded: 1 live, 0 waiting"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("12 refused"), std::string::npos) << r.err;

  // Every problem is still there at debug level.
  const RunResult debug =
      run({spanguard_binary(), "replay", "--pcap", capture_with_alerts("summary-debug.pcap", 1),
           "--rules", rules, "--log-level", "debug"});
  EXPECT_GE(occurrences(debug.err, rules + ":"), 3u + 12u) << debug.err;

  // --strict refuses before compiling, with the same summary.
  const RunResult strict =
      run({spanguard_binary(), "replay", "--pcap", capture_with_alerts("summary-strict.pcap", 1),
           "--rules", rules, "--strict"});
  EXPECT_EQ(strict.status, 2);
  EXPECT_EQ(occurrences(strict.err, "rule(s) refused"), 1u) << strict.err;
  EXPECT_NE(strict.err.find("rules.strict is on"), std::string::npos) << strict.err;
  EXPECT_EQ(strict.err.find("rules loaded"), std::string::npos) << strict.err;
}

// --log-format json / logging.format: json — every stderr line one JSON object with timestamp,
// level, logger and message, the summary and fatal errors included.
TEST(Cli, JsonLogFormatWritesOneObjectPerLine) {
  const std::string rules = write_file(
      "json \"quoted\" \\ name.rules",
      std::string(kGoodRule) + "alert tcp any any -> any 80 (msg:\"x\"; nosuchkeyword; sid:9;)\n");
  const std::string pcap = capture_with_alerts("json.pcap", 2);
  for (const std::vector<std::string>& how :
       {std::vector<std::string>{"--log-format", "json"},
        std::vector<std::string>{"--set", "logging.format=json"}}) {
    std::vector<std::string> argv = {spanguard_binary(), "replay", "--pcap", pcap,
                                     "--rules",          rules};
    argv.insert(argv.end(), how.begin(), how.end());
    const RunResult r = run(argv);
    ASSERT_EQ(r.status, 0) << r.err;
    bool loaded = false, refused = false, summary = false;
    const std::vector<std::string> lines = lines_in(r.err);
    ASSERT_FALSE(lines.empty());
    for (const std::string& line : lines) {
      const auto object = parse_flat_json(line);
      ASSERT_TRUE(object.has_value()) << "not a JSON object: " << line;
      for (const char* key : {"timestamp", "level", "logger", "message"}) {
        EXPECT_EQ(object->count(key), 1u) << key << " missing: " << line;
      }
      EXPECT_TRUE(std::regex_match(object->at("timestamp"),
                                   std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
          << line;
      const std::string& message = object->at("message");
      if (message.find("rules loaded") != std::string::npos) {
        loaded = true;
        EXPECT_EQ(object->at("level"), "info");
        EXPECT_EQ(object->at("logger"), "rules");
      }
      if (message.find("1 rule(s) refused") != std::string::npos) {
        refused = true;
        EXPECT_EQ(object->at("level"), "warning");
        EXPECT_NE(message.find(rules + ":2:"), std::string::npos) << message;  // escaped and back
      }
      if (message.find("spanguard replay of") != std::string::npos) summary = true;
    }
    EXPECT_TRUE(loaded) << r.err;
    EXPECT_TRUE(refused) << r.err;
    EXPECT_TRUE(summary) << r.err;
  }

  const RunResult fatal =
      run({spanguard_binary(), "replay", "--pcap", "/nonexistent/j.pcap", "--log-format", "json"});
  EXPECT_EQ(fatal.status, 1);
  const std::vector<std::string> lines = lines_in(fatal.err);
  ASSERT_EQ(lines.size(), 1u) << fatal.err;
  const auto object = parse_flat_json(lines[0]);
  ASSERT_TRUE(object.has_value()) << lines[0];
  EXPECT_EQ(object->at("level"), "error");
  EXPECT_NE(object->at("message").find("/nonexistent/j.pcap: cannot read capture"),
            std::string::npos);
}

TEST(Cli, BadBpfFilterIsAConfigErrorNamingTheKey) {
  if (geteuid() != 0) GTEST_SKIP() << "opening interfaces needs root";
  const RunResult r = run({spanguard_binary(), "run", "--interface", "lo", "--set",
                           "capture.bpf_filter=tcp port banana", "--set", "run.allow_root=true"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("capture.bpf_filter: 'tcp port banana'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spanguard::testing
