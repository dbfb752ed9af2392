// Rule replays for the protocol rule tests.
#include "rule_replay.h"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "capture_writer.h"
#include "summary_counters.h"

namespace spanguard::testing {

std::string write_capture(const std::string& name, const std::vector<Bytes>& frames) {
  const std::string path = temp_path(name + ".pcap");
  CaptureWriter w(path);
  int64_t ts = kCaptureStartNs;
  for (const Bytes& f : frames) w.write(f, ts += 1000);
  return path;
}

ReplayRun replay_to_eve(const std::string& name, const std::vector<Bytes>& frames,
                        const std::string& rules, const std::vector<std::string>& args) {
  const std::string pcap = write_capture(name, frames);
  const std::string rules_path = temp_path(name + ".rules");
  std::ofstream(rules_path) << rules << "\n";
  ReplayRun out;
  out.eve = temp_path(name + ".json");
  std::remove(out.eve.c_str());  // EVE files are appended to
  std::vector<std::string> argv = {spanguard_binary(), "replay", "--pcap", pcap,      "--rules",
                                   rules_path,         "--eve",  out.eve,  "--strict"};
  argv.insert(argv.end(), args.begin(), args.end());
  out.run = run(argv);
  return out;
}

Replay replay(const std::string& name, const std::vector<Bytes>& frames, const std::string& rules,
              const std::string& address_vars, const std::vector<std::string>& settings) {
  std::vector<std::string> args = {"--set", "rules.vars.address=" + address_vars, "--set",
                                   "flow.records=no"};
  for (const std::string& s : settings) {
    args.push_back("--set");
    args.push_back(s);
  }
  const ReplayRun r = replay_to_eve(name, frames, rules, args);
  Replay out;
  out.run = r.run;
  std::ifstream in(r.eve);
  const std::regex sid("\"signature_id\":([0-9]+)");
  for (std::string line; std::getline(in, line);) {
    out.eve_text += line + "\n";
    if (line.find("\"event_type\":\"alert\"") == std::string::npos) continue;
    std::smatch m;
    if (std::regex_search(line, m, sid)) ++out.alerts[static_cast<uint32_t>(std::stoul(m[1]))];
  }
  return out;
}

int alerts_of(const Replay& r, uint32_t sid) {
  const auto it = r.alerts.find(sid);
  return it == r.alerts.end() ? 0 : it->second;
}

uint64_t counter_of(const Replay& r, const std::string& name) {
  std::vector<std::string> lines;
  std::istringstream in(r.eve_text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::optional<uint64_t> value = eve_counter(lines, name);
  if (!value) throw std::invalid_argument("no stats event with a counter named " + name);
  return *value;
}

std::vector<std::string> events_of_type(const Replay& r, const std::string& event_type) {
  std::vector<std::string> out;
  std::istringstream lines(r.eve_text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"event_type\":\"" + event_type + "\"") != std::string::npos)
      out.push_back(line);
  }
  return out;
}

uint32_t sid_of(const std::string& rule) {
  std::smatch m;
  if (!std::regex_search(rule, m, std::regex("[; (]sid: *([0-9]+);")))
    throw std::invalid_argument("no sid in " + rule);
  return static_cast<uint32_t>(std::stoul(m[1]));
}

}  // namespace spanguard::testing
