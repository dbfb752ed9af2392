// The reset race on a real SPAN test bed: a server answers the trigger at once with a large burst
// while `spanguard run` must reset both ends, ideally before the burst reaches the client. Reports
// kill rate per side, reply leakage, trigger-to-send latency and whether reported outcomes were
// true. Usage (root): reset_race_bench [--trials N] [--burst BYTES] [--ipv6] [--tagged]
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "process.h"
#include "reset_harness.h"
#include "span_testbed.h"
#include "tcp_peers.h"

namespace {

using namespace spanguard::testing;
using namespace std::chrono_literals;

constexpr int kServicePort = 8080;
constexpr const char* kRule =
    "reject tcp any any -> any 8080 (msg:\"blocked request\"; content:\"EVIL-TRIGGER\"; "
    "sid:1000001; rev:1;)";
constexpr std::string_view kTriggerContent = "EVIL-TRIGGER";
constexpr std::string_view kTrigger = "GET /?q=EVIL-TRIGGER HTTP/1.0\r\nHost: bench\r\n\r\n";
// A socket counts as reset when it fails within this long after the trigger: the default kill
// watch (500 ms) and a margin. Longer waits only make a run with unkilled ends slower.
constexpr auto kResetLimit = 600ms;
// A variant stops early when none of its first trials reset anything: the sensor is not resetting.
constexpr int kProbeTrials = 10;

struct Options {
  int trials = 200;
  size_t burst = 64 * 1024;
  bool ipv6 = false;
  bool tagged = false;
  bool verbose = false;  // list the trials that did not go perfectly
  // How the second variant turns the kill watch's answers off.
  std::string no_watch = "respond.follow_ups=false";
};

struct Variant {
  std::string name;
  std::vector<std::string> sets;
  std::chrono::milliseconds kill_watch;
};

struct Trial {
  uint16_t client_port = 0;
  SocketEnd client;
  std::optional<ServerSession> server;  // nullopt: the server's session had not ended in time
  std::chrono::steady_clock::time_point sent;
  bool client_reset() const {
    return client.error == ECONNRESET && client.at - sent <= kResetLimit;
  }
  bool server_reset() const {
    return server && server->end.error == ECONNRESET && server->end.at - sent <= kResetLimit;
  }
};

struct VariantResult {
  std::string name;
  std::vector<Trial> trials;
  int failed_connects = 0;
  bool aborted = false;
  std::string summary;           // the sensor's stderr, summary included
  std::vector<std::string> eve;  // its EVE lines
};

double share(size_t part, size_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// Nearest-rank percentile of a non-empty sample.
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size());
  return v[std::min(v.size() - 1, static_cast<size_t>(rank))];
}

// Outcome for one side as the sensor reported it: the follow-up record's when present, else the
// alert's own (a sensor may settle the outcome before the alert leaves when there is no watch).
std::string reported_outcome(const VariantResult& r, uint16_t port, const char* side) {
  if (const auto follow_up = eve_record(r.eve, "reset", port)) {
    return json_path(*follow_up, {"reset", side, "outcome"}).value_or("?");
  }
  if (const auto alert = eve_record(r.eve, "alert", port)) {
    const std::string o = json_path(*alert, {"reset", side, "outcome"}).value_or("?");
    return o == "pending" ? "no follow-up" : o;
  }
  return "no alert";
}

VariantResult run_variant(const SpanTestbed& bed, const Options& o, const Variant& v,
                          const std::string& burst) {
  VariantResult r;
  r.name = v.name;
  const std::string server_ip = o.ipv6 ? SpanTestbed::kServerV6 : SpanTestbed::kServerV4;
  ResetSensor sensor(bed, kRule, v.sets);
  if (!sensor.wait_ready(10s)) {
    std::fprintf(stderr, "%s: the sensor did not start:\n%s\n", v.name.c_str(),
                 sensor.log().c_str());
    r.aborted = true;
    return r;
  }
  // The server answers the first read that completes the trigger with the whole burst at once,
  // then keeps reading, so that only a reset (or the client's close) ends its session.
  TcpSessionServer server(
      bed.server(), server_ip, kServicePort,
      [&](std::string_view fresh, const std::string& all) -> std::string_view {
        const size_t at = all.find(kTriggerContent);
        const bool completed_now =
            at != std::string::npos && at + kTriggerContent.size() > all.size() - fresh.size();
        return completed_now ? std::string_view(burst) : std::string_view();
      },
      2s);
  if (!server.wait_listening(5s)) {
    std::fprintf(stderr, "%s: the server could not listen\n", v.name.c_str());
    r.aborted = true;
    return r;
  }
  for (int i = 0; i < o.trials; ++i) {
    TcpStream client(bed.client(), server_ip, kServicePort, 1s);
    if (!client.connected()) {
      ++r.failed_connects;
      continue;
    }
    Trial t;
    t.client_port = client.local_port();
    // The server must already be blocked in its read, as a real server waiting for a request is.
    if (!server.wait_accepted(t.client_port, 1s)) {
      ++r.failed_connects;
      continue;
    }
    // wait_accepted sees the session just before its recv(); give the thread time to block in it.
    std::this_thread::sleep_for(1ms);
    t.sent = std::chrono::steady_clock::now();
    client.send_all(kTrigger);
    t.client = client.read_until_end(kResetLimit);
    t.server = server.wait_ended(t.client_port, kResetLimit);
    r.trials.push_back(t);
    if (static_cast<int>(r.trials.size()) == kProbeTrials &&
        std::none_of(r.trials.begin(), r.trials.end(),
                     [](const Trial& x) { return x.client_reset() || x.server_reset(); })) {
      std::fprintf(stderr, "%s: nothing reset in the first %d trials; stopping this variant\n",
                   v.name.c_str(), kProbeTrials);
      r.aborted = true;
      break;
    }
  }
  // Let the last kill watch end so that its follow-up record is written before the summary.
  std::this_thread::sleep_for(v.kill_watch + 700ms);
  if (sensor.stop() != 0)
    std::fprintf(stderr, "%s: the sensor did not exit cleanly\n", v.name.c_str());
  r.summary = sensor.log();
  r.eve = sensor.eve_lines();
  return r;
}

// One column of the report.
struct Figures {
  std::string name;
  std::vector<std::pair<std::string, std::string>> rows;
  std::string respond_line;  // the sensor's own "respond" summary line, for reference
};

std::string percent(size_t part, size_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", share(part, whole));
  return buf;
}

std::string micros(std::optional<double> us) {
  if (!us) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", *us);
  return buf;
}

std::string describe(const SocketEnd& end, std::chrono::steady_clock::time_point sent) {
  char buf[96];
  const double after = std::chrono::duration<double, std::micro>(end.at - sent).count();
  if (end.error != 0) {
    std::snprintf(buf, sizeof buf, "%s after %.0f us", std::strerror(end.error), after);
  } else if (end.eof) {
    std::snprintf(buf, sizeof buf, "EOF after %.0f us", after);
  } else {
    std::snprintf(buf, sizeof buf, "open");
  }
  return buf;
}

// One line per trial that did not go perfectly: both ends reset, nothing leaked, outcome true.
void print_imperfect(const VariantResult& r) {
  for (const Trial& t : r.trials) {
    const std::string c = reported_outcome(r, t.client_port, "client");
    const std::string s = reported_outcome(r, t.client_port, "server");
    const bool perfect = t.client_reset() && t.server_reset() && t.client.bytes_received == 0 &&
                         c == "reset" && s == "reset";
    if (perfect) continue;
    std::printf(
        "  port %5u  client: %-30s %6zu B | server: %-30s | reported client %s, server %s\n",
        t.client_port, describe(t.client, t.sent).c_str(), t.client.bytes_received,
        t.server ? describe(t.server->end, t.sent).c_str() : "session still open", c.c_str(),
        s.c_str());
  }
}

Figures figures(const VariantResult& r) {
  const size_t n = r.trials.size();
  size_t both = 0, client = 0, server = 0, leaked = 0, reported = 0, matched = 0;
  std::vector<double> client_after_us;
  for (const Trial& t : r.trials) {
    both += t.client_reset() && t.server_reset();
    client += t.client_reset();
    server += t.server_reset();
    leaked += t.client.bytes_received > 0;
    if (t.client_reset()) {
      client_after_us.push_back(
          std::chrono::duration<double, std::micro>(t.client.at - t.sent).count());
    }
    const std::string c = reported_outcome(r, t.client_port, "client");
    const std::string s = reported_outcome(r, t.client_port, "server");
    const bool has_outcome = c != "no alert" && c != "no follow-up" && c != "?";
    reported += has_outcome;
    // "reset" is claimed exactly when that side's socket failed with ECONNRESET.
    matched +=
        has_outcome && (c == "reset") == t.client_reset() && (s == "reset") == t.server_reset();
  }
  auto sensor_us = [&](const char* counter) -> std::optional<double> {
    const std::optional<uint64_t> ns = summary_counter(r.summary, counter);
    if (!ns) return std::nullopt;
    return static_cast<double>(*ns) / 1000.0;
  };
  auto app_us = [&](double p) -> std::optional<double> {
    if (client_after_us.empty()) return std::nullopt;
    return percentile(client_after_us, p);
  };
  Figures f;
  f.name = r.name + (r.aborted ? " (stopped early)" : "");
  f.rows = {{"trials", std::to_string(n)},
            {"failed to connect", std::to_string(r.failed_connects)},
            {"both ends reset (kill rate)", percent(both, n)},
            {"client reset", percent(client, n)},
            {"server reset", percent(server, n)},
            {"reply bytes reached client", percent(leaked, n)},
            {"trigger-to-send p50 (sensor)", micros(sensor_us("latency_p50_ns"))},
            {"trigger-to-send p99 (sensor)", micros(sensor_us("latency_p99_ns"))},
            {"trigger-to-send max (sensor)", micros(sensor_us("latency_max_ns"))},
            {"client saw reset, p50 (app)", micros(app_us(50))},
            {"client saw reset, p99 (app)", micros(app_us(99))},
            {"outcome reported", percent(reported, n)},
            {"reported outcome was true", percent(matched, n)}};
  // The summary's respond line and its indented continuation lines.
  std::smatch m;
  if (std::regex_search(r.summary, m, std::regex("\n  respond +([^\n]*(\n {6,}[^\n]*)*)"))) {
    f.respond_line = std::regex_replace(m[1].str(), std::regex("\n +"), " ");
  }
  return f;
}

void print_table(const std::vector<Figures>& columns) {
  std::printf("\n%-30s", "");
  for (const Figures& c : columns) std::printf(" | %-44s", c.name.c_str());
  std::printf("\n");
  for (size_t row = 0; row < columns.front().rows.size(); ++row) {
    std::printf("%-30s", columns.front().rows[row].first.c_str());
    for (const Figures& c : columns) std::printf(" | %-44s", c.rows[row].second.c_str());
    std::printf("\n");
  }
  for (const Figures& c : columns) {
    std::printf("\n%s, sensor summary: %s", c.name.c_str(),
                c.respond_line.empty() ? "(no respond line)" : c.respond_line.c_str());
  }
  std::printf("\n");
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--trials N] [--burst BYTES] [--ipv6] [--tagged] [--no-watch KEY=VALUE] "
               "[--verbose]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--trials" && i + 1 < argc) {
      o.trials = std::atoi(argv[++i]);
    } else if (a == "--burst" && i + 1 < argc) {
      o.burst = static_cast<size_t>(std::atol(argv[++i]));
    } else if (a == "--ipv6") {
      o.ipv6 = true;
    } else if (a == "--tagged") {
      o.tagged = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--no-watch" && i + 1 < argc) {
      o.no_watch = argv[++i];
    } else {
      return usage(argv[0]);
    }
  }
  if (o.trials < 1 || o.trials > 100000 || o.burst < 1) return usage(argv[0]);
  if (geteuid() != 0) {
    std::fprintf(stderr, "reset_race_bench needs root (network namespaces)\n");
    return 1;
  }
  SpanTestbed bed({.tagged_mirror = o.tagged});
  if (!bed.ok()) {
    std::fprintf(stderr, "test bed: %s\n", bed.why().c_str());
    return 1;
  }
  const std::string burst(o.burst, 'b');
  // The watch still runs (500 ms) in the second variant so that outcomes are reported; only its
  // answers to later packets are off.
  const Variant variants[] = {{"with kill watch", {}, 500ms},
                              {"without kill watch (" + o.no_watch + ")", {o.no_watch}, 500ms}};
  std::printf("reset race: %d trials per variant, %zu-byte burst, %s%s, %s\n", o.trials, o.burst,
              o.ipv6 ? "IPv6" : "IPv4", o.tagged ? ", 802.1Q-tagged mirror" : "",
              spanguard_binary().c_str());
  bool all_ran = true;
  std::vector<Figures> columns;
  for (const Variant& v : variants) {
    const VariantResult r = run_variant(bed, o, v, burst);
    all_ran = all_ran && !r.aborted;
    columns.push_back(figures(r));
    if (o.verbose) {
      std::printf("%s: trials that did not go perfectly\n", r.name.c_str());
      print_imperfect(r);
    }
  }
  print_table(columns);
  return all_ran ? 0 : 1;
}
