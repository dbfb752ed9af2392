// Envelope-level helpers shared by the alert stream, the EVE file and the event builders: EVE
// timestamps, the per-run numbering of events, and the fields every event type carries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "spanguard/core/time.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {

// "2024-04-21T10:00:00.123456+0000", in UTC, as Suricata's EVE writes it.
std::string eve_timestamp(core::Timestamp t);
// The whole seconds since the epoch of an eve_timestamp() text ("+0000" or another offset);
// nullopt when it is not one.
std::optional<int64_t> eve_timestamp_seconds(std::string_view text);
// The events an envelope can carry that are numbered per run (alert, reset report, flow record):
// their seq (0 for any other body), setting it (false for any other body), and the event itself
// (null for any other body), as the EVE file writes it.
uint64_t event_seq(const v1::Envelope& e);
bool set_event_seq(v1::Envelope& e, uint64_t seq);
const google::protobuf::Message* event_body(const v1::Envelope& e);
// Sets EVE's "host" (the sensor's name) of the event an envelope carries.
void set_host(v1::Envelope& e, const std::string& host);
// Sets the community_id of the event an envelope carries (alert, flow, reset or protocol record).
void set_community_id(v1::Envelope& e, std::string id);

}  // namespace spanguard::output
