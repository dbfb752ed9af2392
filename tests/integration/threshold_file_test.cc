// rules.threshold_file through `spanguard replay`: suppress by host keeps a rule from alerting
// for that host only, a suppressed rule still sets its flowbits, a threshold line replaces the
// rule's own, and a malformed file is reported with file:line by check-rules.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

void append(std::vector<Bytes>& to, const std::vector<Bytes>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

// One short conversation per client, each sending `request`.
std::vector<Bytes> clients_send(const std::vector<std::string>& clients,
                                const std::string& request) {
  std::vector<Bytes> frames;
  uint16_t port = 41000;
  for (const std::string& client : clients) {
    TcpConversation c({client, port++, kClientMac}, {"198.51.100.20", 8080, kServerMac});
    append(frames, c.handshake());
    append(frames, c.client_sends(request));
    append(frames, c.close());
  }
  return frames;
}

std::string threshold_file(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

const std::string kRules =
    "alert tcp any any -> any 8080 (msg:\"probe\"; flow:to_server; content:\"PROBE\"; "
    "flowbits:set,probed; sid:1001;)\n"
    "alert tcp any any -> any 8080 (msg:\"probe seen\"; flow:to_server; content:\"PROBE\"; "
    "flowbits:isset,probed; sid:1002;)\n";

TEST(ThresholdFile, SuppressByHostSilencesThatHostOnlyAndTheRuleStillSetsItsFlowbits) {
  const std::string file = threshold_file(
      "suppress.config", "suppress gen_id 1, sig_id 1001, track by_src, ip 198.51.100.7\n");
  const Replay r = replay("suppress", clients_send({"198.51.100.7", "198.51.100.8"}, "PROBE\r\n"),
                          kRules, "{}", {"rules.threshold_file=" + file});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 1001), 1) << r.eve_text;  // 198.51.100.8 only
  EXPECT_EQ(alerts_of(r, 1002), 2) << r.eve_text;  // the bit was set for both
}

TEST(ThresholdFile, AThresholdLineReplacesTheRulesOwn) {
  const std::string rule =
      "alert tcp any any -> any 8080 (msg:\"probe\"; flow:to_server; content:\"PROBE\"; "
      "threshold: type limit, track by_rule, count 1, seconds 60; sid:1003;)\n";
  const auto frames = clients_send({"198.51.100.7", "198.51.100.8", "198.51.100.9"}, "PROBE\r\n");
  const Replay own = replay("threshold-own", frames, rule, "{}");
  ASSERT_EQ(own.run.status, 0) << own.run.err;
  EXPECT_EQ(alerts_of(own, 1003), 1);
  const std::string file = threshold_file(
      "threshold.config",
      "threshold gen_id 1, sig_id 1003, type limit, track by_src, count 1, seconds 60\n");
  const Replay replaced =
      replay("threshold-replaced", frames, rule, "{}", {"rules.threshold_file=" + file});
  ASSERT_EQ(replaced.run.status, 0) << replaced.run.err;
  EXPECT_EQ(alerts_of(replaced, 1003), 3);  // one per source now
}

TEST(ThresholdFile, CheckRulesReportsItsLinesAndAMissingFileIsAConfigurationError) {
  const std::string rules_path = temp_path("threshold-check.rules");
  std::ofstream(rules_path) << kRules;
  const std::string file =
      threshold_file("bad-threshold.config", "# header\nsuppress gen_id 1, sig_id 1001, ip x\n");
  const std::string config = temp_path("threshold-check.yaml");
  std::ofstream(config) << "rules:\n  threshold_file: " << file << "\n";
  const RunResult check = run({spanguard_binary(), "check-rules", "--config", config, rules_path});
  EXPECT_NE(check.out.find(file + ":2:1: error: 'suppress' needs both 'track' and 'ip'"),
            std::string::npos)
      << check.out << check.err;
  const RunResult missing =
      run({spanguard_binary(), "replay", "--pcap", write_capture("none.pcap", {}), "--rules",
           rules_path, "--set", "rules.threshold_file=/nonexistent/threshold.config"});
  EXPECT_EQ(missing.status, 2) << missing.err;
  EXPECT_NE(missing.err.find("/nonexistent/threshold.config: cannot read the file"),
            std::string::npos)
      << missing.err;
}

// rate_filter: once the rule matched more than `count` times, its matches take new_action — here
// a passive alert rule turns into resets for the clients beyond the rate (Suricata's use: block a
// brute-forcer once it exceeds N attempts).
TEST(ThresholdFile, RateFilterTurnsMatchesBeyondTheRateIntoResets) {
  const std::string file =
      threshold_file("rate_filter.config",
                     "rate_filter gen_id 1, sig_id 1004, track by_rule, count 2, seconds 60, "
                     "new_action reject, timeout 60\n");
  const std::string rule =
      "alert tcp any any -> any 8080 (msg:\"probe\"; flow:to_server; content:\"PROBE\"; "
      "sid:1004;)\n";
  const auto frames =
      clients_send({"198.51.100.7", "198.51.100.8", "198.51.100.9", "198.51.100.10"}, "PROBE\r\n");
  const std::string resets = temp_path("rate_filter_resets.pcap");
  const Replay r = replay("rate-filter", frames, rule, "{}", {"rules.threshold_file=" + file});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  ASSERT_EQ(events_of_type(r, "alert").size(), 4u) << r.eve_text;  // never hides an alert
  EXPECT_NE(r.run.err.find("rate_filtered 2"), std::string::npos) << r.run.err;

  // With resets written to a file, those two are really torn down (action "blocked").
  const ReplayRun blocked =
      replay_to_eve("rate-filter-blocked", frames, rule,
                    {"--resets-pcap", resets, "--set", "rules.threshold_file=" + file});
  ASSERT_EQ(blocked.run.status, 0) << blocked.run.err;
  std::ifstream in(blocked.eve);
  int blocked_alerts = 0;
  for (std::string line; std::getline(in, line);) {
    blocked_alerts += line.find("\"event_type\":\"alert\"") != std::string::npos &&
                      line.find("\"action\":\"blocked\"") != std::string::npos;
  }
  EXPECT_EQ(blocked_alerts, 2) << blocked.run.err;
}

TEST(ThresholdFile, RateFilterPassSilencesTheMatchesBeyondTheRate) {
  const std::string file =
      threshold_file("rate_filter_pass.config",
                     "rate_filter gen_id 1, sig_id 1005, track by_src, count 1, seconds 60, "
                     "new_action pass, timeout 60\n");
  const Replay r = replay(
      "rate-filter-pass",
      clients_send({"198.51.100.7", "198.51.100.7", "198.51.100.7", "198.51.100.8"}, "PROBE\r\n"),
      "alert tcp any any -> any 8080 (msg:\"probe\"; flow:to_server; content:\"PROBE\"; "
      "sid:1005;)\n",
      "{}", {"rules.threshold_file=" + file});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 1005), 2) << r.eve_text;  // the first of .7, and .8
}

}  // namespace
}  // namespace spanguard::testing
