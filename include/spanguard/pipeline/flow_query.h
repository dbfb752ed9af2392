// What `spanguard ctl flows` asks of the workers: the tracked flows matching a filter. A worker
// owns its flow table and nothing else may read it, so the question is posted to every worker and
// each answers at its next batch end or idle tick.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "spanguard/core/ip_address.h"
#include "spanguard/core/time.h"

namespace spanguard::pipeline {

struct FlowFilter {
  std::optional<core::IpAddress> ip;  // either endpoint
  std::optional<uint16_t> port;       // either endpoint
  std::optional<uint8_t> proto;       // IP protocol number
  std::string app;                    // application protocol name ("http"), empty: any
  size_t limit = 100;                 // per worker
};

struct FlowSummary {
  uint64_t flow_id = 0;
  unsigned worker = 0;
  uint8_t proto = 0;
  core::IpAddress src_ip, dest_ip;  // client, server
  uint16_t src_port = 0, dest_port = 0;
  std::string app_proto;
  std::string state;  // TCP state, or "active"
  uint64_t pkts_toserver = 0, pkts_toclient = 0;
  uint64_t bytes_toserver = 0, bytes_toclient = 0;
  core::Timestamp start{}, last_seen{};
  unsigned rule_generation = 0;  // the rule set it is inspected with (changes with reloads)
};

// One posted question and its answer.
struct FlowQuery {
  FlowFilter filter;
  std::mutex mutex;
  std::condition_variable answered;
  size_t pending = 0;  // workers still to answer
  std::vector<FlowSummary> flows;
  bool truncated = false;  // some worker had more matches than the limit
};

}  // namespace spanguard::pipeline
