// Entry point of `spanguard-collector`: command line, signals (SIGHUP reopens the output and
// reloads the TLS credentials, SIGINT/SIGTERM stop), exit codes as the sensor's (2 usage, 1
// runtime).
#include <signal.h>
#include <sys/signalfd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "spanguard/collector/collector.h"
#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/socket.h"

#ifndef SPANGUARD_VERSION
#define SPANGUARD_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace spanguard;
  CLI::App app{"spanguard-collector " SPANGUARD_VERSION
               ": receives spanguard alert streams and writes EVE JSON lines"};
  collector::CollectorOptions options;
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--listen", options.listen,
                 "Address to accept sensors on: tls://HOST:PORT, tcp://HOST:PORT or "
                 "unix:///PATH (repeatable); tcp:// only on loopback unless --insecure")
      ->required()
      ->type_name("URL");
  app.add_option("--tls-cert", options.tls.cert,
                 "tls://: this collector's certificate (PEM, intermediates after it); reloaded "
                 "on SIGHUP")
      ->type_name("PATH");
  app.add_option("--tls-key", options.tls.key, "tls://: the private key of --tls-cert (PEM)")
      ->type_name("PATH");
  app.add_option("--tls-ca", options.tls.ca,
                 "tls://: CA certificate(s) (PEM) that must have issued each sensor's certificate")
      ->type_name("PATH");
  app.add_option("--tls-peer-name", options.tls.peer_names,
                 "tls://: a sensor certificate name to accept (subjectAltName DNS, else CN; "
                 "repeatable); none: any certificate from --tls-ca")
      ->type_name("NAME");
  app.add_flag("--insecure", options.insecure,
               "Allow tcp:// listeners beyond the loopback address (alerts unencrypted)");
  app.add_option("--out", options.out, "EVE JSON lines file, '-' for stdout")
      ->capture_default_str()
      ->type_name("PATH|-");
  app.add_option("--state", options.state,
                 "Dedupe state file (default: OUT.state; none with --out -)")
      ->type_name("PATH");
  app.add_flag("!--no-stats", options.stats,
               "Do not write the sensors' heartbeats as EVE stats events (their counters)");
  app.add_option("--max-frame", options.max_frame, "Largest frame accepted from a sensor")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->type_name("BYTES");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, critical or off (messages go to stderr)")
      ->capture_default_str();
  app.add_option("--log-format", log_format,
                 "text, or json: one object per line with timestamp, level, logger, message")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", SPANGUARD_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints what is wrong
    return static_cast<int>(core::ExitCode::kUsage);
  }

  const auto fatal = [](const char* kind, const char* message) {
    if (core::log_format() == core::LogFormat::kText) {
      std::fprintf(stderr, "spanguard-collector: %s%s\n", kind, message);
    } else {
      core::write_log_line("collector", spdlog::level::err, std::string(kind) + message);
    }
  };
  try {
    core::set_log_format(log_format);
    core::set_log_level(log_level);
    // Blocked before any thread exists, and read through a signalfd by the serving loop: no
    // async-signal-safety concerns, and SIGHUP can reopen files as ordinary code.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    output::UniqueFd signal_fd(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signal_fd.valid()) throw core::RuntimeError("signalfd failed");
    collector::Collector collector(options);
    collector.watch_signals(signal_fd.get());
    collector.run();
    core::CounterSnapshot snapshot;
    collector.collect(snapshot);
    std::string summary;
    for (const auto& e : snapshot.entries()) {
      summary += (summary.empty() ? "" : ", ") + e.name + "=" + std::to_string(e.value);
    }
    core::flush_suppressed_logs();
    core::logger("collector")->info("stopped: {}", summary);
    return 0;
  } catch (const core::Error& e) {
    fatal("", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    fatal("internal error: ", e.what());
    return static_cast<int>(core::ExitCode::kRuntime);
  }
}
