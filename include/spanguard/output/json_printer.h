// EVE JSON from protobuf messages by a reflection walk: protobuf's JSON mapping (proto field names,
// proto3 presence, enums by name, bytes as base64, Struct/Value/ListValue as plain JSON), except
// that 64-bit integers are JSON numbers, as EVE has them, instead of strings. EveWriter prints
// with it; so can the collector's EVE file.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace spanguard::output {

// Appends `message` as one JSON object (no newline) to `out`. Differences from protobuf's
// MessageToJsonString with preserve_proto_field_names:
// - int64, uint64, sint64, fixed64 and sfixed64 are JSON numbers (exact, e.g.
//   18446744073709551615), not strings;
// - a double or float that holds an integer of magnitude below 2^63 prints as that integer, never
//   with an exponent (protobuf may from 1e15 on: 1e+15, 1.2345678901234568e+17); other
//   values print in their shortest round-trip form; NaN and infinities print null (protobuf:
//   "NaN", "Infinity");
// - invalid UTF-8 in a string field becomes U+FFFD per maximal invalid subpart (protobuf drops the
//   bytes, sometimes with the valid character after them);
// - map and Struct keys are sorted (protobuf prints them in hash order);
// - '<', '>', DEL and the invisible/line-separator code points protobuf escapes as \uXXXX are
//   written as themselves (the same JSON string once parsed).
// Timestamp and Duration print as protobuf prints them; Any and FieldMask are delegated to
// protobuf's printer (inside an Any, 64-bit integers stay strings).
// Returns false, leaving `out` as it was, only when nesting exceeds 100 levels, a Timestamp or
// Duration is out of protobuf's range, or protobuf cannot print an Any. Thread-safe: each thread
// prints with its own buffers.
bool append_json(const google::protobuf::Message& message, std::string& out);

}  // namespace spanguard::output
