// Subcommands of the `spanguard` executable, and the configuration schema they share.
#include "spanguard/cli/app.h"

#include <hs/hs.h>
#include <libnet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/capture/fanout.h"
#include "spanguard/capture/source.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/cli/signals.h"
#include "spanguard/core/config.h"
#include "spanguard/core/error.h"
#include "spanguard/core/heap.h"
#include "spanguard/core/log.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/detect/engine.h"
#include "spanguard/detect/rule_profile.h"
#include "spanguard/events/events.h"
#include "spanguard/flow/flow_table.h"
#include "spanguard/ops/metrics_server.h"
#include "spanguard/ops/privileges.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/envelope.h"
#include "spanguard/output/eve_output.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/output/stats_json.h"
#include "spanguard/pipeline/engine.h"
#include "spanguard/pipeline/rule_slot.h"
#include "spanguard/pipeline/summary.h"
#include "spanguard/respond/injector.h"
#include "spanguard/respond/responder.h"
#include "spanguard/rules/parser.h"
#include "spanguard/rules/reference_config.h"
#include "spanguard/rules/threshold_config.h"

#ifndef SPANGUARD_VERSION
#define SPANGUARD_VERSION "0.0.0"
#endif

namespace spanguard::cli {

namespace {

// Options shared by `replay` and `run`.
struct CommonOptions {
  std::vector<std::string> rules;
  std::string config_file;
  std::string eve;
  std::string resets_pcap;
  std::string alerts_url;
  std::vector<std::string> sets;
  int workers = -1;  // -1: not given; 0: one per core
  std::string log_level;
  std::string log_format;
  bool strict = false;
  int profile_rules = 20;  // rules to print (0: all) when --profile-rules is given
  std::vector<const CLI::Option*> profile_flags;  // one per subcommand sharing these options
  std::string profile_rules_file;
  bool profile_table() const {
    return std::any_of(profile_flags.begin(), profile_flags.end(),
                       [](const CLI::Option* f) { return f->count() > 0; });
  }
};

void add_common(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("-c,--config", o.config_file, "YAML configuration file (deploy/spanguard.yaml)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set", o.sets, "Override a configuration key: --set flow.memcap=512MiB")
      ->type_name("KEY=VALUE");
  cmd.add_option("--rules", o.rules, "Rule file in Snort/Suricata syntax (repeatable)")
      ->type_name("FILE");
  cmd.add_flag("--strict", o.strict,
               "Refuse to start if any rule has an error (rules.strict); replay: a capture "
               "record that cannot be read fails the run (exit 1)");
  cmd.add_option("--eve", o.eve, "Write EVE-compatible JSON lines to PATH ('-' = stdout)")
      ->type_name("PATH|-");
  cmd.add_option("--resets-pcap", o.resets_pcap, "Write the frames reset injection would send")
      ->type_name("PATH");
  cmd.add_option("--alerts", o.alerts_url,
                 "Stream alerts to a collector: tls://HOST:PORT, tcp://HOST:PORT (loopback only "
                 "unless output.socket.insecure), unix:///PATH")
      ->type_name("URL");
  cmd.add_option("--workers", o.workers,
                 "Worker threads, 0: one per core (pipeline.workers; default replay: 1, "
                 "deterministic; run: one per core)")
      ->check(CLI::Range(0, 256));
  cmd.add_option("--log-level", o.log_level,
                 "trace, debug, info, warn, error, critical or off (logging.level)");
  cmd.add_option("--log-format", o.log_format,
                 "text, or json: one object per line on stderr (logging.format)")
      ->check(CLI::IsMember({"text", "json"}));
  o.profile_flags.push_back(
      cmd.add_flag("--profile-rules{20}", o.profile_rules,
                   "Profile rules (detect.profile_rules) and print the N costliest at the end "
                   "(--profile-rules=N, default 20; 0: all)")
          ->check(CLI::NonNegativeNumber));
  cmd.add_option("--profile-rules-file", o.profile_rules_file,
                 "Profile rules and write every checked rule's figures as JSON to PATH at the end")
      ->type_name("PATH");
}

// logging.level and logging.format, unless the command line gave them.
void apply_logging(const core::Config& config, const std::string& level,
                   const std::string& format) {
  core::set_log_format(format.empty() ? config.get("logging.format").as_string() : format);
  core::set_log_level(level.empty() ? config.get("logging.level").as_string() : level);
}

core::Config load_config(const CommonOptions& o) {
  // The command line's format first, so that configuration errors already come out in it.
  if (!o.log_format.empty()) core::set_log_format(o.log_format);
  core::Config config(config_schema());
  if (!o.config_file.empty()) config.load_file(o.config_file);
  for (const std::string& s : o.sets) config.set(s);
  if (o.profile_table() || !o.profile_rules_file.empty()) config.set("detect.profile_rules=true");
  apply_logging(config, o.log_level, o.log_format);
  return config;
}

// Text meant for the operator at the end of a run (summary, rule profile): as it is on stderr, or
// as one log record in JSON mode so that stderr stays one object per line. Written at any level.
void print_report(const std::string& text) {
  if (core::log_format() == core::LogFormat::kText) {
    std::fputs(text.c_str(), stderr);
    return;
  }
  std::string_view body(text);
  while (!body.empty() && body.back() == '\n') body.remove_suffix(1);
  core::write_log_line("cli", spdlog::level::info, body);
}

// --workers, else pipeline.workers, else `fallback`; 0 (given or not) is one per core, which the
// pipeline resolves.
unsigned worker_count(const CommonOptions& o, const core::Config& config, unsigned fallback) {
  if (o.workers >= 0) return static_cast<unsigned>(o.workers);
  if (config.is_set("pipeline.workers"))
    return static_cast<unsigned>(config.get("pipeline.workers").as_int());
  return fallback;
}

// Runs until the input ends or SIGINT/SIGTERM, then drains the alert stream (bounded by
// output.drain_timeout: a collector outage is not a sensor failure) and prints the summary.
// With rule profiling on, the costliest rules follow the summary (and go to
// --profile-rules-file).
void report_rule_profile(const pipeline::Engine& engine, const detect::DetectionEngine* detection,
                         const CommonOptions& o) {
  if (detection == nullptr || !detection->options().profile_rules) return;
  const std::vector<detect::RuleProfile> profile = engine.rule_profile();
  if (o.profile_table() || o.profile_rules_file.empty()) {
    const size_t top = static_cast<size_t>(o.profile_table() ? o.profile_rules : 20);
    print_report(detect::format_rule_profile(*detection, profile, top));
  }
  if (!o.profile_rules_file.empty()) {
    const std::string json = detect::rule_profile_json(*detection, profile);
    std::FILE* f = std::fopen(o.profile_rules_file.c_str(), "w");
    if (f == nullptr || std::fwrite(json.data(), 1, json.size(), f) != json.size()) {
      core::logger("cli")->error("{}: cannot write the rule profile: {}", o.profile_rules_file,
                                 std::strerror(errno));
    }
    if (f != nullptr) std::fclose(f);
  }
}

// `rules` (run): the slot a reload replaces, whose final set the rule profile is reported for;
// `reload` runs on SIGUSR2.
// Whether the EVE file gets stats events (output.eve.stats_interval > 0), and the host they name.
struct EveStats {
  bool enabled = false;
  std::string host;
};

EveStats eve_stats(const core::Config& config, const output::EveWriter* eve) {
  return {eve != nullptr &&
              config.get("output.eve.stats_interval").as_duration() > core::Duration::zero(),
          output::sensor_name(config)};
}

// One EVE stats event of `counters`, timestamped now, written and flushed.
void write_stats_event(output::EveWriter& eve, const core::CounterSnapshot& counters,
                       int64_t uptime_seconds, const std::string& host) {
  std::string line;
  output::append_stats_json(counters, output::eve_timestamp(std::chrono::system_clock::now()),
                            uptime_seconds, host, line);
  eve.write_line(line);
  eve.flush();
}

// What a run's outputs need kept alive while it lasts.
struct RunOutputs {
  // The stream's last events go to the EVE file as it closes: closed before `eve` goes.
  ~RunOutputs() {
    if (alerts != nullptr) alerts->close();
    if (eve_output != nullptr) eve_output->close();
  }
  std::atomic<pipeline::Engine*> engine{nullptr};  // heartbeats read its counters once it exists
  std::unique_ptr<output::AlertStream> alerts;     // destroyed last of these: it reads `engine`
  std::unique_ptr<output::EveWriter> eve;
  std::unique_ptr<output::EveOutput> eve_output;  // writes `eve` when no alert stream does
  std::unique_ptr<respond::PcapWriter> resets_pcap;
  std::unique_ptr<respond::ResponseContext> respond;
  std::atomic<uint64_t> event_seq{0};
};

// What run_engine runs besides the engine and its outputs.
struct EngineRun {
  std::string title;              // the summary's heading
  bool read_errors_fail = false;  // --strict: a capture file that ends in a read error fails
  const detect::DetectionEngine* detection = nullptr;  // the rules at the start
  const pipeline::RuleSlot* rules = nullptr;           // live reloads: the rules in use at the end
  std::function<void()> reload;                        // SIGUSR2 (none: ignored)
};

int run_engine(pipeline::Engine& engine, RunOutputs& run, const EngineRun& what,
               const CommonOptions& o, const EveStats& stats) {
  output::AlertStream* alerts = run.alerts.get();
  output::EveWriter* eve = run.eve.get();
  // SIGINT/SIGTERM stop; SIGHUP reopens the EVE file after log rotation and reloads the alert
  // stream's TLS credentials; SIGUSR2 reloads the rules (Suricata's signals).
  SignalWatcher signals([&engine](int) { engine.stop(); },
                        [eve, alerts] {
                          if (eve != nullptr) eve->reopen();
                          if (alerts != nullptr) alerts->reload_credentials();
                        },
                        what.reload);
  const int64_t start = core::monotonic_ns();
  // A failure inside the engine (a worker's error) still drains the alert stream and prints the
  // summary of what was done before it is reported.
  std::exception_ptr failure;
  try {
    engine.run();
  } catch (...) {
    failure = std::current_exception();
  }
  const double wall = static_cast<double>(core::monotonic_ns() - start) / 1e9;
  if (alerts != nullptr) alerts->close();
  if (run.eve_output != nullptr) run.eve_output->close();  // every event before the last stats
  core::flush_suppressed_logs();
  const core::CounterSnapshot counters = engine.counters();
  if (stats.enabled && eve != nullptr) {
    // The run's last stats event, with every counter's final value (Suricata writes one at
    // shutdown too): what a replay did, in machine-readable form.
    write_stats_event(*eve, counters, static_cast<int64_t>(wall), stats.host);
  }
  print_report(pipeline::format_summary(what.title, counters, wall));
  const std::shared_ptr<const detect::DetectionEngine> final_rules =
      what.rules != nullptr ? what.rules->current() : nullptr;
  report_rule_profile(engine, final_rules != nullptr ? final_rules.get() : what.detection, o);
  if (failure) std::rethrow_exception(failure);
  if (what.read_errors_fail && counters.get("capture.read_errors") > 0) return 1;
  return 0;
}

// Opens the outputs the options ask for.
pipeline::WorkerOutputs open_outputs(const core::Config& config, const CommonOptions& o,
                                     RunOutputs& run, const detect::DetectionEngine* detection) {
  if (!o.eve.empty()) {
    run.eve = std::make_unique<output::EveWriter>(
        o.eve, config.get("output.eve.flush").as_string() == "line");
  }
  const output::AlertStreamOptions stream = output::alert_stream_options(config, o.alerts_url);
  if (stream.enabled()) {
    std::atomic<pipeline::Engine*>* engine = &run.engine;
    run.alerts = std::make_unique<output::AlertStream>(stream, [engine] {
      const pipeline::Engine* e = engine->load();
      return e != nullptr ? e->counters() : core::CounterSnapshot{};
    });
    run.alerts->mirror_to(run.eve.get());  // the output thread prints the EVE lines too
  } else if (run.eve != nullptr) {
    run.eve_output = std::make_unique<output::EveOutput>(*run.eve, stream.handoff_size);
  }
  pipeline::WorkerOutputs outputs;  // members left out keep their defaults
  outputs.eve = run.eve.get();
  outputs.detection = detection;
  outputs.respond = run.respond.get();
  outputs.event_seq = &run.event_seq;
  outputs.alerts = run.alerts.get();
  outputs.eve_output = run.eve_output.get();
  return outputs;
}

// replay --resets-pcap: responses are planned exactly as live, and written to a capture file.
void open_offline_responses(const core::Config& config, const CommonOptions& o, RunOutputs& run) {
  if (o.resets_pcap.empty()) return;
  respond::RespondOptions options = respond::respond_options(config);
  run.resets_pcap = std::make_unique<respond::PcapWriter>(o.resets_pcap, options.layer == 2);
  // The source MAC live injection would use: the named interface's, else the locally administered
  // address 02:00:00:00:00:00, which marks the frames as the sensor's.
  std::array<uint8_t, 6> mac{0x02, 0, 0, 0, 0, 0};
  if (const auto own = respond::interface_mac(options.interface)) mac = *own;
  respond::PcapWriter* writer = run.resets_pcap.get();
  options.keep_warm = core::Duration(0);
  run.respond = std::make_unique<respond::ResponseContext>(
      options, [writer, mac] { return std::make_unique<respond::PcapInjector>(*writer, mac); });
}

// run: one injector per worker on the injection interface (--inject-interface, respond.interface,
// else the first capture interface). Opened before capture starts, so that a missing interface or
// missing privileges fail the start, not the first reset. When nothing asks for resets yet the
// injectors still open, on standby, so that a reload adding reject rules can act on them; only
// if that fails does the run go on without (such a reload then alerts only, and says so).
void open_live_responses(const core::Config& config, const std::string& inject_interface,
                         const std::string& first_capture, const detect::DetectionEngine* detection,
                         RunOutputs& run) {
  respond::RespondOptions options = respond::respond_options(config);
  if (!inject_interface.empty()) options.interface = inject_interface;
  if (options.interface.empty()) options.interface = first_capture;
  const auto log = core::logger("respond");
  if (!options.enabled) {
    if (!inject_interface.empty()) {
      log->warn("--inject-interface {}: respond.enabled is off: nothing will be injected",
                inject_interface);
    }
    return;
  }
  const bool needed =
      respond::any_rule_responds(detection, options) || flow::flow_options(config).resets_idle();
  const std::string interface = options.interface;
  const int layer = options.layer;
  try {
    if (layer == 2) {
      respond::LinkInjector probe(interface);
    } else {
      respond::RawInjector probe(interface);
    }
  } catch (const std::exception& e) {
    if (needed) throw;
    log->warn(
        "no loaded rule asks for a reset (reject*/drop) and no idle policy resets; the injection "
        "interface cannot be opened ({}): rules a reload adds that ask for resets will alert only "
        "until the sensor is restarted",
        e.what());
    return;
  }
  if (needed) {
    log->info("resets go out of {} at layer {} ({} mode)", interface, layer,
              respond::to_string(options.mode));
  } else {
    log->info(
        "no loaded rule asks for a reset (reject*/drop) and no idle policy resets: resets a "
        "reload asks for will go out of {} at layer {} ({} mode)",
        interface, layer, respond::to_string(options.mode));
  }
  run.respond = std::make_unique<respond::ResponseContext>(
      options, [interface, layer]() -> std::unique_ptr<respond::Injector> {
        if (layer == 2) return std::make_unique<respond::LinkInjector>(interface);
        return std::make_unique<respond::RawInjector>(interface);
      });
}

// The file a rules.*_file key names (or `override_path`): when the key is left at its default and
// that path does not exist, the copy shipped with this build.
std::string rules_support_file(const core::Config& config, const std::string& key,
                               const std::string& override_path, const char* shipped) {
  std::string path = override_path.empty() ? config.get(key).as_string() : override_path;
  if (override_path.empty() && !config.is_set(key) && !std::filesystem::exists(path)) {
    path = std::string(SPANGUARD_RULES_DIR "/") + shipped;
  }
  return path;
}

// A support file's problems (one per bad line): the first few as warnings, then how many more.
void warn_file_problems(const std::vector<std::string>& problems) {
  constexpr size_t kShown = 3;
  auto log = core::logger("rules");
  for (size_t i = 0; i < problems.size() && i < kShown; ++i) log->warn("{}", problems[i]);
  if (problems.size() > kShown) {
    log->warn("... and {} more problem(s) like these", problems.size() - kShown);
    for (size_t i = kShown; i < problems.size(); ++i) log->debug("{}", problems[i]);
  }
}

// Loads the classification file named by rules.classification_file (or `override_path`).
rules::Classifications load_classifications(const core::Config& config,
                                            const std::string& override_path) {
  const std::string path = rules_support_file(config, "rules.classification_file", override_path,
                                              "classification.config");
  rules::Classifications c;
  const auto errors = c.load_file(path);
  if (!errors.empty() && c.size() == 0) {
    throw core::ConfigError("rules.classification_file: " + errors.front());
  }
  warn_file_problems(errors);
  return c;
}

// rules.reference_file resolves the rules' references to URLs; its problems are warnings.
void resolve_references(const core::Config& config, rules::RuleSet& set) {
  const std::string path =
      rules_support_file(config, "rules.reference_file", "", "reference.config");
  rules::ReferenceSystems systems;
  const auto errors = systems.load_file(path);
  if (!errors.empty() && systems.size() == 0) {
    throw core::ConfigError("rules.reference_file: " + errors.front());
  }
  warn_file_problems(errors);
  const size_t before = set.diagnostics.size();
  rules::resolve_references(systems, set.rules, set.diagnostics);
  set.warnings += set.diagnostics.size() - before;
}

// Parses `files` (plus rules.files), reporting every diagnostic; throws when a file is unreadable,
// or when any rule failed under --strict / rules.strict.
// rules.threshold_file, when set, applied to the parsed rules; its problems join the rules'.
void apply_threshold_file(const core::Config& config, const rules::Variables& vars,
                          rules::RuleSet& set) {
  const std::string& path = config.get("rules.threshold_file").as_string();
  if (path.empty()) return;
  const size_t before = set.diagnostics.size();
  rules::apply_threshold_file(path, vars, set.rules, set.diagnostics);
  for (size_t i = before; i < set.diagnostics.size(); ++i) {
    if (set.diagnostics[i].severity == rules::Diagnostic::Severity::kError)
      ++set.failed;
    else
      ++set.warnings;
  }
}

rules::RuleSet load_rules(const core::Config& config, std::vector<std::string> files,
                          const rules::Classifications& classes) {
  for (const std::string& f : config.get("rules.files").as_strings()) files.push_back(f);
  const rules::Variables vars = rules::rule_variables(config);
  rules::RuleParser parser(vars, &classes, applayer::rule_registry());
  for (const std::string& f : files) parser.parse_file(f);
  rules::RuleSet set = parser.take();
  apply_threshold_file(config, vars, set);
  resolve_references(config, set);
  return set;
}

// How much of the rules' problems the load summary shows; the rest is at debug level and in
// `spanguard check-rules`.
constexpr size_t kShownReasons = 5;
constexpr size_t kShownExamples = 3;

// The check-rules command line that lists every problem of these files.
std::string check_rules_hint(const std::vector<std::string>& files, const std::string& config) {
  std::string hint = "spanguard check-rules";
  if (!config.empty()) hint += " -c " + config;
  for (size_t i = 0; i < files.size() && i < kShownExamples; ++i) hint += " " + files[i];
  if (files.size() > kShownExamples) hint += " ...";
  return hint;
}

// One record per load for the rules' errors and one for their warnings: counts by reason and the
// first few, instead of a line per rule (ET Open would give hundreds). Every diagnostic is also
// logged at debug level. Returns the number of errors (refused rules).
size_t log_rule_problems(const rules::RuleSet& set, const std::string& hint) {
  using Severity = rules::Diagnostic::Severity;
  auto log = core::logger("rules");
  size_t errors = 0, warnings = 0;
  std::string error_examples, warning_examples;
  for (const rules::Diagnostic& d : set.diagnostics) {
    log->debug("{}", d.to_string());
    if (d.severity == Severity::kError) {
      if (errors++ < kShownExamples) error_examples += "\n    " + d.to_string();
    } else if (d.severity == Severity::kWarning) {
      if (warnings++ < kShownExamples) warning_examples += "\n    " + d.to_string();
    }
  }
  const std::string see = "\n  see `" + hint + "` for all of them (or --log-level debug)";
  if (errors > 0) {
    std::string text = std::to_string(errors) + " rule(s) refused and left out, by reason:";
    const auto reasons = set.failures_by_reason();
    size_t shown = 0;
    for (size_t i = 0; i < reasons.size() && i < kShownReasons; ++i) {
      const std::string& reason = reasons[i].first.empty() ? "other" : reasons[i].first;
      text += fmt::format("\n  {:6}  {}", reasons[i].second, reason);
      shown += reasons[i].second;
    }
    if (reasons.size() > kShownReasons) {
      text += fmt::format("\n  {:6}  for {} other reason(s)", errors - shown,
                          reasons.size() - kShownReasons);
    }
    log->warn("{}\n  first:{}{}", text, error_examples, see);
  }
  if (warnings > 0) {
    log->warn("{} rule warning(s) (rules loaded anyway); first:{}{}", warnings, warning_examples,
              see);
  }
  return errors;
}

// The rule files a run loads: --rules, then rules.files.
std::vector<std::string> rule_files(const core::Config& config, const CommonOptions& o) {
  std::vector<std::string> files = o.rules;
  for (const std::string& f : config.get("rules.files").as_strings()) files.push_back(f);
  return files;
}

// The compiled rule set the workers share, or null without rules. Problems are summarised once
// (log_rule_problems); under --strict / rules.strict any refused rule fails the start, before
// compilation when the parser already refused one.
std::unique_ptr<detect::DetectionEngine> load_detection(const core::Config& config,
                                                        const CommonOptions& o) {
  const std::vector<std::string> files = rule_files(config, o);
  if (files.empty()) return nullptr;
  const rules::Classifications classes = load_classifications(config, "");
  rules::RuleSet set = load_rules(config, o.rules, classes);
  const bool strict = o.strict || config.get("rules.strict").as_bool();
  for (const rules::Diagnostic& d : set.diagnostics) {
    if (d.line == 0) throw core::ConfigError(d.file + ": " + d.message);  // unreadable file
  }
  const std::string hint = check_rules_hint(files, o.config_file);
  const auto strict_failure = [](size_t errors) {
    return core::ConfigError(std::to_string(errors) +
                             " rule(s) have errors and rules.strict is on (see above)");
  };
  if (strict && set.failed > 0) throw strict_failure(log_rule_problems(set, hint));
  auto engine = std::make_unique<detect::DetectionEngine>(
      std::move(set.rules), detect::detect_options(config), set.diagnostics,
      applayer::rule_registry());
  const size_t errors = log_rule_problems(set, hint);
  if (strict && errors > 0) throw strict_failure(errors);
  const detect::EngineStats& st = engine->stats();
  const std::string cached =
      engine->options().cache_dir.empty()
          ? std::string()
          : fmt::format(" ({} of {} databases read from {})", st.cached_databases, st.databases,
                        engine->options().cache_dir);
  core::logger("rules")->info(
      "{} rules loaded: {} live, {} waiting for a protocol parser or buffer not there yet; {} "
      "refused, {} skipped by their requires; compiled in {:.3f} s{}, {} patterns, {:.1f} KiB of "
      "databases",
      st.rules, st.rules - st.waiting_for_app, st.waiting_for_app, errors, set.skipped,
      st.compile_time.count(), cached, st.patterns, static_cast<double>(st.database_bytes) / 1024);
  return engine;
}

// ---- inputs checked before the rules are compiled (ET Open takes seconds) ----

// A file the run will create or overwrite: its directory must exist and take new files.
void check_output_path(const std::string& option, const std::string& path) {
  if (path.empty() || path == "-") return;
  namespace fs = std::filesystem;
  const std::string what = option + " " + path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw core::RuntimeError(what + ": is a directory");
  if (fs::exists(path, ec)) {
    if (::access(path.c_str(), W_OK) != 0) {
      throw core::RuntimeError(what + ": cannot write: " + std::strerror(errno));
    }
    return;
  }
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) {
    throw core::RuntimeError(what + ": directory " + dir.string() + " does not exist");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw core::RuntimeError(what + ": cannot create files in " + dir.string() + ": " +
                             std::strerror(errno));
  }
}

// libpcap's device names: real interfaces and pseudo-devices such as "any".
bool pcap_knows_device(const std::string& name) {
  char err[PCAP_ERRBUF_SIZE] = "";
  pcap_if_t* devices = nullptr;
  if (pcap_findalldevs(&devices, err) != 0) return false;
  bool found = false;
  for (const pcap_if_t* d = devices; d != nullptr && !found; d = d->next) found = name == d->name;
  pcap_freealldevs(devices);
  return found;
}

void check_interface(const std::string& what, const std::string& name) {
  if (::if_nametoindex(name.c_str()) != 0 || pcap_knows_device(name)) return;
  throw core::RuntimeError(what + " '" + name + "': no such interface");
}

// What replay and run share: rule files readable, output paths writable, options that parse.
void check_common_inputs(const core::Config& config, const CommonOptions& o) {
  for (const std::string& f : rule_files(config, o)) {
    if (::access(f.c_str(), R_OK) != 0) {
      throw core::ConfigError(f + ": cannot read rule file: " + std::strerror(errno));
    }
  }
  check_output_path("--eve", o.eve);
  check_output_path("--resets-pcap", o.resets_pcap);
  check_output_path("--profile-rules-file", o.profile_rules_file);
  output::alert_stream_options(config, o.alerts_url);
  respond::respond_options(config);
  detect::detect_options(config);
}

int cmd_replay(const std::vector<std::string>& pcaps, const CommonOptions& o) {
  block_watched_signals();  // before the outputs start their threads
  core::Config config = load_config(o);
  // Every capture is opened (and its link type checked) before anything slow happens.
  auto files = std::make_unique<capture::FileSource>(pcaps);
  check_common_inputs(config, o);
  const std::unique_ptr<detect::DetectionEngine> detection = load_detection(config, o);
  RunOutputs run;
  open_offline_responses(config, o, run);
  const pipeline::WorkerOutputs outputs = open_outputs(config, o, run, detection.get());
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  const std::string title = "spanguard replay of " + files->name();
  sources.push_back(std::move(files));
  pipeline::Engine engine(config, std::move(sources), worker_count(o, config, 1), false, outputs);
  run.engine = &engine;
  // An unreadable record ends its file with a warning; only --strict makes that a failure.
  const int status = run_engine(engine, run,
                                {.title = title,
                                 .read_errors_fail = o.strict,
                                 .detection = detection.get(),
                                 .rules = nullptr,
                                 .reload = {}},
                                o, eve_stats(config, run.eve.get()));
  run.engine = nullptr;
  return status;
}

// Several workers read their own share of every interface through a fanout group. By default one
// per core — but busy-polling workers each spin on a core of their own, so then one core is left to
// the kernel's receive path and everything else (measured on 2 cores with the endpoints on the same
// machine: a reset waits ~450 us at the median when spinners take every core, ~1.4 us with one
// left free). Where the kernel refuses fanout (capture.fanout: auto), a capture thread per
// interface hands frames to the workers — and a busy-polling single interface then runs the whole
// data path on its capture thread instead, since the hand-off would add a wake-up to every reset.
std::unique_ptr<pipeline::Engine> make_live_engine(const core::Config& config,
                                                   const CommonOptions& o,
                                                   const std::vector<std::string>& interfaces,
                                                   const capture::LiveOptions& live,
                                                   const pipeline::WorkerOutputs& outputs) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const bool told = o.workers >= 0 || config.is_set("pipeline.workers");
  unsigned workers = worker_count(o, config, 0);
  if (!told && live.busy_poll) workers = std::max(1u, cores - 1);
  if (workers == 0) workers = cores;
  if (workers == 1 && interfaces.size() > 1) {
    // One worker polls every interface itself: no capture thread, no copy.
    return std::make_unique<pipeline::Engine>(config, capture::open_fanout(interfaces, live, 1),
                                              outputs);
  }
  if (workers > 1 && live.fanout != "no") {
    try {
      return std::make_unique<pipeline::Engine>(
          config, capture::open_fanout(interfaces, live, workers), outputs);
    } catch (const core::RuntimeError& e) {
      if (live.fanout == "yes") throw;
      core::logger("cli")->warn(
          "{}; capture threads hand frames to the workers instead (capture.fanout)", e.what());
      if (!told && live.busy_poll && interfaces.size() == 1) {
        workers = 1;
      }
    }
  }
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  for (const std::string& name : interfaces) {
    sources.push_back(std::make_unique<capture::LiveSource>(name, live));
  }
  return std::make_unique<pipeline::Engine>(config, std::move(sources), workers, true, outputs);
}

// What /metrics and /healthz see: the engine's counters (total and per worker), each interface's
// capture figures (summed over the workers that read it), and the reset latency histogram.
ops::MetricsSnapshot metrics_snapshot(const pipeline::Engine& engine,
                                      const respond::ResponseContext* respond) {
  ops::MetricsSnapshot m;
  m.totals = engine.counters();
  m.workers = engine.worker_counters();
  for (const auto& source : engine.source_stats()) {
    // Named, not a structured binding: clang 14 does not let a lambda capture one.
    const std::string& name = source.first;
    const capture::SourceStats& stats = source.second;
    auto it = std::find_if(m.sources.begin(), m.sources.end(),
                           [&name](const ops::SourceMetrics& s) { return s.name == name; });
    if (it == m.sources.end()) it = m.sources.insert(m.sources.end(), {.name = name});
    it->frames += stats.received;
    it->kernel_dropped += stats.kernel_dropped;
    it->interface_dropped += stats.interface_dropped;
  }
  if (respond != nullptr) {
    const respond::LatencyHistogram& latency = respond->latency();
    ops::Histogram h{.name = "respond.reset_latency_seconds",
                     .help = "capture of the trigger to the return of the reset's send call"};
    for (const int64_t ns : {1'000, 2'000, 5'000, 10'000, 20'000, 50'000, 100'000, 200'000, 500'000,
                             1'000'000, 2'000'000, 5'000'000, 10'000'000}) {
      h.bounds.push_back(static_cast<double>(ns) / 1e9);
      h.counts.push_back(latency.count_at_most(ns));
    }
    h.count = latency.count();
    h.sum = static_cast<double>(latency.sum_ns()) / 1e9;
    m.histograms.push_back(std::move(h));
  }
  return m;
}

// metrics.listen: the endpoint starts once the engine exists and stops before it goes.
std::unique_ptr<ops::MetricsServer> start_metrics(const core::Config& config,
                                                  const pipeline::Engine& engine,
                                                  const respond::ResponseContext* respond) {
  const ops::MetricsOptions options = ops::metrics_options(config);
  if (!options.enabled()) return nullptr;
  auto server = std::make_unique<ops::MetricsServer>(
      options, [&engine, respond] { return metrics_snapshot(engine, respond); });
  core::logger("cli")->info("metrics and health on http://{}:{}/metrics and /healthz",
                            server->host(), server->port());
  return server;
}

// Rule reload (SIGUSR2): a thread of its own reads and compiles the rule files again — seconds for
// a large set — while the workers go on with the rules in use. A new set with any error is refused
// as a whole (a half-loaded set would silently drop the broken rules' coverage) and the old one
// stays. An accepted set is published to the workers, which start new flows on it at their next
// batch; flows already tracked finish on the set they started with.
class RuleReloader {
 public:
  RuleReloader(const core::Config& config, const CommonOptions& o, pipeline::RuleSlot& slot,
               const pipeline::Engine& engine, bool can_respond)
      : config_(config), options_(o), slot_(slot), engine_(engine), can_respond_(can_respond) {
    options_.strict = true;
    thread_ = std::thread([this] { loop(); });
  }
  ~RuleReloader() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  RuleReloader(const RuleReloader&) = delete;
  RuleReloader& operator=(const RuleReloader&) = delete;

  // Reloads now, on the calling thread (the control socket's), after any reload under way; returns
  // whether the new set is active and what happened.
  std::pair<bool, std::string> reload_now() { return reload(); }

  // Asks for a reload; requests made while one runs are served by one more afterwards.
  void request() {
    {
      std::lock_guard lock(mutex_);
      pending_ = true;
    }
    wake_.notify_all();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return pending_ || done_; });
      if (done_) return;
      pending_ = false;
      lock.unlock();
      reload();
      lock.lock();
    }
  }

  std::pair<bool, std::string> reload() {
    std::lock_guard serial(reloading_);
    const auto log = core::logger("rules");
    log->info("reloading rules");
    const int64_t start = core::monotonic_ns();
    std::shared_ptr<const detect::DetectionEngine> next;
    std::string refused;
    try {
      next = load_detection(config_, options_);
      if (next == nullptr) refused = "no rule file configured";
    } catch (const std::exception& e) {
      refused = e.what();
    }
    if (!refused.empty()) {
      const std::string why = "rule reload refused, the rules in use stay active: " + refused;
      log->error("{}", why);
      return {false, why};
    }
    if (!can_respond_ &&
        respond::any_rule_responds(next.get(), respond::respond_options(config_))) {
      log->warn(
          "reloaded rules ask for resets, but this run started without an injector (no rule "
          "asked for one then): they alert only until the sensor is restarted");
    }
    slot_.replace(next);
    const uint64_t version = slot_.version();
    // Idle workers switch within capture.timeout, busy ones at their next batch.
    for (int i = 0; i < 3000 && !engine_.rules_active(version); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::string done =
        fmt::format("rules reloaded in {:.3f} s: {} rules, {} on every worker",
                    static_cast<double>(core::monotonic_ns() - start) / 1e9, next->stats().rules,
                    engine_.rules_active(version) ? "active" : "not yet active");
    log->info("{}", done);
    return {true, done};
  }

  const core::Config& config_;
  CommonOptions options_;
  pipeline::RuleSlot& slot_;
  const pipeline::Engine& engine_;
  bool can_respond_;
  std::mutex reloading_;  // one reload at a time (signal and control socket)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool done_ = false;
  std::thread thread_;
};

// EVE stats events every output.eve.stats_interval while `run` runs (and one at the end of every
// run or replay, see run_engine), as Suricata writes them: a
// SIEM graphs capture drops, decoding and alerts from the same file it reads alerts from.
class StatsWriter {
 public:
  StatsWriter(core::Duration interval, const pipeline::Engine& engine, output::EveWriter& eve,
              std::string host)
      : interval_(interval), engine_(engine), eve_(eve), host_(std::move(host)) {
    started_ = core::monotonic_ns();
    thread_ = std::thread([this] { loop(); });
  }
  ~StatsWriter() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  StatsWriter(const StatsWriter&) = delete;
  StatsWriter& operator=(const StatsWriter&) = delete;

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return done_; })) {
      write_stats_event(eve_, engine_.counters(), (core::monotonic_ns() - started_) / 1'000'000'000,
                        host_);
    }
  }

  core::Duration interval_;
  const pipeline::Engine& engine_;
  output::EveWriter& eve_;
  std::string host_;
  int64_t started_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// A sensor reads hostile traffic: once its sockets are open it needs no root. Refused before any
// work is done when nothing says whom to become (run.user) or that root is wanted
// (run.allow_root).
void check_root_allowed(const core::Config& config) {
  if (ops::privilege_options(config).user.empty() && ops::running_as_root() &&
      !ops::root_allowed(config)) {
    throw core::ConfigError(
        "run.user: not set, and the sensor would go on as root after start-up; name the account "
        "to run as (run.user: spanguard), or allow root with run.allow_root: true");
  }
}

// After every socket is open and before the workers start: become run.user, keeping only
// run.keep_caps (threads started later inherit them).
void drop_privileges(const core::Config& config) {
  const ops::PrivilegeOptions options = ops::privilege_options(config);
  if (options.user.empty()) return;
  const ops::Credentials now = ops::drop_privileges(options);
  core::logger("cli")->info("running as {}: {}", options.user, now.describe());
}

int cmd_run(std::vector<std::string> interfaces, const std::string& inject_interface,
            const CommonOptions& o) {
  block_watched_signals();  // before the outputs start their threads
  core::Config config = load_config(o);
  if (!o.resets_pcap.empty()) {
    throw core::ConfigError("--resets-pcap " + o.resets_pcap +
                            ": only `replay` writes resets to a file; `run` injects them");
  }
  for (const std::string& name : config.get("capture.interfaces").as_strings()) {
    interfaces.push_back(name);
  }
  if (interfaces.empty()) {
    throw core::ConfigError(
        "no interface to capture from: give --interface NAME or capture.interfaces");
  }
  for (const std::string& name : interfaces) check_interface("interface", name);
  if (!inject_interface.empty()) check_interface("--inject-interface", inject_interface);
  check_common_inputs(config, o);
  capture::live_options(config, false);
  check_root_allowed(config);
  ops::metrics_options(config);  // a malformed metrics.listen fails before the rules compile
  ops::control_options(config);
  const std::shared_ptr<const detect::DetectionEngine> detection = load_detection(config, o);
  RunOutputs run;
  open_live_responses(config, inject_interface, interfaces.front(), detection.get(), run);
  pipeline::WorkerOutputs outputs = open_outputs(config, o, run, detection.get());
  // Rules can be reloaded while running (SIGUSR2) when there were rules to start with.
  std::optional<pipeline::RuleSlot> rules;
  if (detection != nullptr) outputs.rules = &rules.emplace(detection);
  const capture::LiveOptions live = capture::live_options(config, run.respond != nullptr);
  const std::unique_ptr<pipeline::Engine> engine =
      make_live_engine(config, o, interfaces, live, outputs);
  const int64_t started = core::monotonic_ns();
  const std::unique_ptr<ops::MetricsServer> metrics =
      start_metrics(config, *engine, run.respond.get());
  std::optional<RuleReloader> reloader;
  std::function<void()> reload;
  if (rules) {
    reloader.emplace(config, o, *rules, *engine, run.respond != nullptr);
    reload = [&reloader] { reloader->request(); };
  } else {
    reload = [] { core::logger("rules")->warn("SIGUSR2: no rules to reload (none configured)"); };
  }
  std::optional<StatsWriter> stats;
  if (const core::Duration every = config.get("output.eve.stats_interval").as_duration();
      run.eve != nullptr && every > core::Duration::zero()) {
    stats.emplace(every, *engine, *run.eve, output::sensor_name(config));
  }
  std::optional<ops::ControlServer> control;
  if (const ops::ControlOptions co = ops::control_options(config); co.enabled()) {
    ControlTarget target{*engine, nullptr, [&engine] { engine->stop(); }, started};
    if (reloader) target.reload = [&reloader] { return reloader->reload_now(); };
    control.emplace(co, [target](const std::string& command, const std::vector<std::string>& args) {
      return handle_control(target, command, args);
    });
  }
  drop_privileges(config);
  core::logger("cli")->info(
      "running with {} worker(s) on {} interface(s); stop with SIGINT/SIGTERM",
      engine->worker_count(), interfaces.size());
  run.engine = engine.get();
  const int status = run_engine(*engine, run,
                                {.title = "spanguard run",
                                 .detection = detection.get(),
                                 .rules = rules ? &*rules : nullptr,
                                 .reload = std::move(reload)},
                                o, eve_stats(config, run.eve.get()));
  control.reset();
  stats.reset();
  reloader.reset();
  run.engine = nullptr;
  return status;
}

int cmd_check_rules(const std::vector<std::string>& files, const std::string& config_file,
                    const std::string& classification, bool quiet) {
  core::Config config(config_schema());
  if (!config_file.empty()) config.load_file(config_file);
  apply_logging(config, "", "");
  const rules::Classifications classes = load_classifications(config, classification);
  const rules::Variables vars = rules::rule_variables(config);
  rules::RuleParser parser(vars, &classes, applayer::rule_registry());
  const int64_t start = core::monotonic_ns();
  for (const std::string& f : files) parser.parse_file(f);
  const double took = static_cast<double>(core::monotonic_ns() - start) / 1e9;
  rules::RuleSet set = parser.take();
  apply_threshold_file(config, vars, set);
  resolve_references(config, set);
  // Compile what parsed, so that what PCRE2 or Hyperscan refuses is reported here too.
  std::vector<rules::Diagnostic> compile_diagnostics;
  const size_t parsed = set.rules.size();
  const detect::DetectionEngine engine(std::move(set.rules), detect::detect_options(config),
                                       compile_diagnostics, applayer::rule_registry());
  for (rules::Diagnostic& d : compile_diagnostics) {
    if (d.severity == rules::Diagnostic::Severity::kError)
      ++set.failed;
    else
      ++set.warnings;
    set.diagnostics.push_back(std::move(d));
  }
  if (!quiet) {
    for (const rules::Diagnostic& d : set.diagnostics) std::printf("%s\n", d.to_string().c_str());
  }
  const detect::EngineStats& st = engine.stats();
  const detect::HeaderIndex::Stats& groups = engine.header_rules().stats();
  std::printf(
      "%zu rules loaded, %zu failed, %zu skipped by their requires, %zu warnings (%zu files, "
      "parsed in %.3f s)\n",
      st.rules, set.failed, set.skipped, set.warnings, files.size(), took);
  const auto reasons = set.failures_by_reason();
  if (!reasons.empty()) {
    std::printf("failed rules by reason:\n");
    for (const auto& [reason, n] : reasons) std::printf("  %6zu  %s\n", n, reason.c_str());
  }
  std::printf(
      "compiled %zu of %zu parsed rules in %.3f s: %zu Hyperscan patterns, databases %.1f KiB, "
      "scan state %zu bytes per stream direction\n",
      st.rules, parsed, st.compile_time.count(), st.patterns,
      static_cast<double>(st.database_bytes) / 1024, st.stream_state_bytes);
  std::printf(
      "  scopes: %zu stream, %zu packet, %zu transaction, %zu header-only (%zu grouped by "
      "address, %zu by port, %zu judged on every packet); %zu anchored stream rules also run "
      "per chunk; %zu prefiltered by pcre, %zu unprefiltered\n"
      "  live: %zu of %zu (%zu on application-layer protocols and buffers); %zu wait for a "
      "protocol parser that does not exist yet\n",
      st.by_scope[0], st.by_scope[1], st.by_scope[2], st.by_scope[3], groups.by_address,
      groups.by_port, groups.generic, st.anchored, st.pcre_prefilters, st.unprefiltered,
      st.rules - st.waiting_for_app, st.rules, st.application, st.waiting_for_app);
  // A refused rule is a rule error: the usage/configuration code, as README states.
  return static_cast<int>(set.failed > 0 ? core::ExitCode::kUsage : core::ExitCode::kOk);
}

// The reason the process exits, whatever the log level: "spanguard: error: ..." on stderr, or one
// JSON record in JSON mode.
void report_fatal(const char* kind, const char* message) {
  if (core::log_format() == core::LogFormat::kText) {
    std::fprintf(stderr, "spanguard: %s: %s\n", kind, message);
  } else {
    core::write_log_line("cli", spdlog::level::err, std::string(kind) + ": " + message);
  }
}

void print_version() {
  std::printf("spanguard %s\n", SPANGUARD_VERSION);
  std::printf("  %s\n", pcap_lib_version());
  std::printf("  hyperscan %s\n", hs_version());
  std::printf("  %s\n", libnet_version());
}

}  // namespace

int main(int argc, char** argv) {
  core::keep_freed_memory();
  CLI::App app{
      "spanguard: passive IDS for switch mirror ports that tears down offending TCP sessions"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SPANGUARD_VERSION);

  CommonOptions common;
  std::vector<std::string> pcaps, interfaces, rule_files;
  std::string inject_interface;
  int result = 0;

  app.add_subcommand("version", "Print the version and the libraries in use")->callback([] {
    print_version();
  });

  CLI::App* replay = app.add_subcommand("replay", "Replay capture files through the sensor");
  replay
      ->add_option("--pcap", pcaps, "Capture file, pcap or pcapng (repeatable, replayed in order)")
      ->required()
      ->type_name("FILE");
  add_common(*replay, common);
  replay->callback([&] { result = cmd_replay(pcaps, common); });

  CLI::App* run = app.add_subcommand("run", "Capture live from mirror ports");
  run->add_option("--interface", interfaces, "Capture interface (repeatable)")->type_name("NAME");
  run->add_option("--inject-interface", inject_interface, "Interface resets are sent from")
      ->type_name("NAME");
  add_common(*run, common);
  run->callback([&] { result = cmd_run(interfaces, inject_interface, common); });

  CLI::App* check = app.add_subcommand("check-rules", "Check rule files and report every problem");
  check->add_option("files", rule_files, "Rule files")->required()->type_name("FILE");
  std::string check_config, classification;
  bool check_quiet = false;
  check
      ->add_option("-c,--config", check_config,
                   "Configuration (rule variables, classification file)")
      ->check(CLI::ExistingFile);
  check->add_option(
      "--classification", classification,
      "classification.config resolving classtype (default: rules.classification_file)");
  check->add_flag("-q,--quiet", check_quiet, "Print only the summary");
  check->callback(
      [&] { result = cmd_check_rules(rule_files, check_config, classification, check_quiet); });

  CLI::App* ctl = app.add_subcommand(
      "ctl", "Talk to a running sensor: version, stats, reload, flows [filters], shutdown, help");
  std::string ctl_socket, ctl_config;
  double ctl_timeout = 30;
  std::vector<std::string> ctl_words;
  ctl->add_option("--socket", ctl_socket, "The sensor's control socket (control.socket)")
      ->type_name("PATH");
  ctl->add_option("-c,--config", ctl_config, "Configuration naming control.socket")
      ->check(CLI::ExistingFile);
  ctl->add_option("--timeout", ctl_timeout, "Seconds to wait for the answer (reload compiles)")
      ->check(CLI::Range(0.1, 3600.0));
  ctl->add_option("command", ctl_words, "COMMAND [ARGS...]")->required();
  ctl->callback([&] {
    if (ctl_socket.empty() && !ctl_config.empty()) {
      core::Config config(config_schema());
      config.load_file(ctl_config);
      ctl_socket = config.get("control.socket").as_string();
    }
    if (ctl_socket.empty()) {
      throw core::ConfigError("ctl: give --socket PATH, or -c CONFIG with control.socket set");
    }
    result = cmd_ctl(ctl_socket, static_cast<int>(ctl_timeout * 1000), ctl_words);
  });

  CLI::App* show = app.add_subcommand("show-config", "Print the documented default configuration");
  show->callback([&] {
    std::fputs((core::Config(config_schema()).documented_example() + "\n").c_str(), stdout);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(core::ExitCode::kUsage);
  } catch (const core::Error& e) {
    report_fatal("error", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    report_fatal("internal error", e.what());
    return static_cast<int>(core::ExitCode::kRuntime);
  }
  return result;
}

}  // namespace spanguard::cli
