// A test sensor: one worker with a rule set, fed frames one by one; alerts come back parsed from
// the EVE lines it writes. Shared by the detection tests.
#pragma once

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/detect/engine.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::detect {

using testing::Bytes;

constexpr char kClassifications[] =
    "config classification: web-application-attack,Web Application Attack,1\n"
    "config classification: misc-activity,Misc activity,3\n";

// A worker with a rule set, fed frames one by one; alerts come back parsed from its EVE output.
class Sensor {
 public:
  explicit Sensor(const std::string& rules_text, const std::vector<std::string>& sets = {})
      : config_(cli::config_schema()) {
    config_.set("flow.records=no");
    for (const std::string& s : sets) config_.set(s);
    classes_.load_text(kClassifications, "classification.config");
    rules::RuleParser parser(rules::rule_variables(config_), &classes_, applayer::rule_registry());
    parser.parse_text(rules_text, "t.rules");
    rules::RuleSet set = parser.take();
    for (const rules::Diagnostic& d : set.diagnostics) {
      if (d.severity == rules::Diagnostic::Severity::kError) ADD_FAILURE() << d.to_string();
    }
    std::vector<rules::Diagnostic> diagnostics;
    engine_ = std::make_unique<DetectionEngine>(std::move(set.rules), detect_options(config_),
                                                diagnostics, applayer::rule_registry());
    for (const rules::Diagnostic& d : diagnostics) {
      if (d.severity == rules::Diagnostic::Severity::kError) ADD_FAILURE() << d.to_string();
    }
    path_ =
        std::filesystem::temp_directory_path() / ("spanguard-detect-" + std::to_string(::getpid()) +
                                                  "-" + std::to_string(++serial_) + ".json");
    eve_ = std::make_unique<output::EveWriter>(path_.string());
    worker_ = std::make_unique<pipeline::Worker>(
        config_, false, pipeline::WorkerOutputs{.eve = eve_.get(), .detection = engine_.get()});
  }
  ~Sensor() { std::filesystem::remove(path_); }

  void feed(const Bytes& frame) {
    now_ns_ += 1000;
    worker_->on_frame({frame.data(), static_cast<uint32_t>(frame.size()),
                       static_cast<uint32_t>(frame.size()), core::timestamp_from_ns(now_ns_),
                       decode::LinkType::kEthernet});
  }
  void feed(const std::vector<Bytes>& frames) {
    for (const Bytes& f : frames) feed(f);
  }
  // Packet time moves on by `d` before the next frame.
  void advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }

  // Ends every flow and returns the alerts written, in order.
  std::vector<v1::Alert> alerts() {
    worker_->finish();
    eve_->flush();
    std::vector<v1::Alert> out;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      v1::Alert a;
      const auto status = google::protobuf::util::JsonStringToMessage(line, &a);
      EXPECT_TRUE(status.ok()) << line;
      out.push_back(a);
    }
    return out;
  }
  std::vector<uint32_t> sids() {
    std::vector<uint32_t> out;
    for (const v1::Alert& a : alerts()) out.push_back(a.alert().signature_id());
    return out;
  }
  const DetectionEngine& engine() const { return *engine_; }
  uint64_t counter(const std::string& name) const {
    core::CounterSnapshot snap;
    worker_->collect(snap);
    return snap.get(name);
  }

 private:
  static inline int serial_ = 0;
  core::Config config_;
  rules::Classifications classes_;
  std::unique_ptr<DetectionEngine> engine_;
  std::filesystem::path path_;
  std::unique_ptr<output::EveWriter> eve_;
  std::unique_ptr<pipeline::Worker> worker_;
  int64_t now_ns_ = 1'700'000'000'000'000'000;
};

}  // namespace spanguard::detect
