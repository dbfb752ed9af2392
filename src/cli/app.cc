// Subcommands of the `spanguard` executable, and the configuration schema they share.
#include "spanguard/cli/app.h"

#include <hs/hs.h>
#include <libnet.h>
#include <pcap/pcap.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "spanguard/capture/source.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/cli/signals.h"
#include "spanguard/core/config.h"
#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/engine.h"
#include "spanguard/pipeline/summary.h"

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
  int workers = -1;  // -1: not given
  std::string log_level;
};

void add_common(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("-c,--config", o.config_file, "YAML configuration file (deploy/spanguard.yaml)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set", o.sets, "Override a configuration key: --set flow.memcap=512MiB")
      ->type_name("KEY=VALUE");
  cmd.add_option("--rules", o.rules, "Rule file in Snort/Suricata syntax (repeatable)")
      ->type_name("FILE");
  cmd.add_option("--eve", o.eve, "Write EVE-compatible JSON lines to PATH ('-' = stdout)")
      ->type_name("PATH|-");
  cmd.add_option("--resets-pcap", o.resets_pcap, "Write the frames reset injection would send")
      ->type_name("PATH");
  cmd.add_option("--alerts", o.alerts_url,
                 "Stream alerts to a collector: tcp://HOST:PORT, unix:///PATH")
      ->type_name("URL");
  cmd.add_option("--workers", o.workers,
                 "Worker threads (replay: 1, deterministic; run: one per core)")
      ->check(CLI::Range(1, 256));
  cmd.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, critical or off");
}

core::Config load_config(const CommonOptions& o) {
  core::Config config(config_schema());
  if (!o.config_file.empty()) config.load_file(o.config_file);
  for (const std::string& s : o.sets) config.set(s);
  core::set_log_level(o.log_level.empty() ? config.get("logging.level").as_string() : o.log_level);
  return config;
}

// Flags whose subsystems this build does not have must not be silently ignored.
void refuse_unavailable(const CommonOptions& o) {
  auto refuse = [](const char* flag, const std::string& value) {
    if (!value.empty()) {
      throw core::ConfigError(std::string(flag) + " " + value +
                              ": this build has no such output yet (see `spanguard --help`)");
    }
  };
  refuse("--rules", o.rules.empty() ? std::string() : o.rules.front());
  refuse("--resets-pcap", o.resets_pcap);
  refuse("--alerts", o.alerts_url);
}

unsigned worker_count(const CommonOptions& o, const core::Config& config, unsigned fallback) {
  if (o.workers > 0) return static_cast<unsigned>(o.workers);
  if (config.is_set("pipeline.workers"))
    return static_cast<unsigned>(config.get("pipeline.workers").as_int());
  return fallback;
}

int run_engine(pipeline::Engine& engine, const std::string& title, bool read_errors_fail) {
  SignalWatcher signals([&engine](int) { engine.stop(); });
  const int64_t start = core::monotonic_ns();
  engine.run();
  const double wall = static_cast<double>(core::monotonic_ns() - start) / 1e9;
  const core::CounterSnapshot counters = engine.counters();
  std::fputs(pipeline::format_summary(title, counters, wall).c_str(), stderr);
  if (read_errors_fail && counters.get("capture.read_errors") > 0) return 1;
  return 0;
}

// Opens the outputs the options ask for; `eve` keeps the EVE writer alive for the run.
pipeline::WorkerOutputs open_outputs(const CommonOptions& o,
                                     std::unique_ptr<output::EveWriter>& eve) {
  if (!o.eve.empty()) eve = std::make_unique<output::EveWriter>(o.eve);
  return pipeline::WorkerOutputs{.eve = eve.get()};
}

int cmd_replay(const std::vector<std::string>& pcaps, const CommonOptions& o) {
  core::Config config = load_config(o);
  refuse_unavailable(o);
  std::unique_ptr<output::EveWriter> eve;
  const pipeline::WorkerOutputs outputs = open_outputs(o, eve);
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  auto files = std::make_unique<capture::FileSource>(pcaps);
  const std::string title = "spanguard replay of " + files->name();
  sources.push_back(std::move(files));
  pipeline::Engine engine(config, std::move(sources), worker_count(o, config, 1), false, outputs);
  return run_engine(engine, title, true);
}

int cmd_run(std::vector<std::string> interfaces, const std::string& inject_interface,
            const CommonOptions& o) {
  core::Config config = load_config(o);
  refuse_unavailable(o);
  if (!inject_interface.empty()) {
    throw core::ConfigError("--inject-interface " + inject_interface +
                            ": this build has no reset injection yet");
  }
  for (const std::string& name : config.get("capture.interfaces").as_strings()) {
    interfaces.push_back(name);
  }
  if (interfaces.empty()) {
    throw core::ConfigError(
        "no interface to capture from: give --interface NAME or capture.interfaces");
  }
  std::unique_ptr<output::EveWriter> eve;
  const pipeline::WorkerOutputs outputs = open_outputs(o, eve);
  const capture::LiveOptions live = capture::live_options(config);
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  for (const std::string& name : interfaces) {
    sources.push_back(std::make_unique<capture::LiveSource>(name, live));
  }
  pipeline::Engine engine(config, std::move(sources), worker_count(o, config, 0), true, outputs);
  core::logger("cli")->info(
      "running with {} worker(s) on {} interface(s); stop with SIGINT/SIGTERM",
      engine.worker_count(), interfaces.size());
  return run_engine(engine, "spanguard run", false);
}

void print_version() {
  std::printf("spanguard %s\n", SPANGUARD_VERSION);
  std::printf("  %s\n", pcap_lib_version());
  std::printf("  hyperscan %s\n", hs_version());
  std::printf("  %s\n", libnet_version());
}

}  // namespace

int main(int argc, char** argv) {
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
  check->callback(
      [&] { throw core::ConfigError("check-rules: this build has no rule parser yet"); });

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
    std::fprintf(stderr, "spanguard: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spanguard: internal error: %s\n", e.what());
    return static_cast<int>(core::ExitCode::kRuntime);
  }
  return result;
}

}  // namespace spanguard::cli
