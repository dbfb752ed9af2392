// Builds the stream's event messages from the sensor's own state: EVE timestamps, protocol names,
// and flow records from ended flows (client as src, server as dest, as EVE has them).
#pragma once

#include <string>

#include "spanguard/core/time.h"
#include "spanguard/flow/flow.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {

// "2024-04-21T10:00:00.123456+0000", in UTC, as Suricata's EVE writes it.
std::string eve_timestamp(core::Timestamp t);
// "TCP", "UDP", "ICMP", "IPv6-ICMP", else the protocol number.
std::string proto_name(uint8_t ip_proto);
// The EVE flow record of a flow that just ended.
v1::FlowRecord flow_record(const flow::Flow& flow, flow::EndReason reason);

}  // namespace spanguard::output
