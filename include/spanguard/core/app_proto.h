// Application-layer protocols by name, as rule headers (`alert http ...`), `app-layer-protocol:`,
// flow records and alerts spell them. The set of names is closed, like Suricata's; whether a parser
// exists for one is the application layer's business (see rules::Registry).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace spanguard::core {

enum class AppProto : uint8_t {
  kNone,  // not (yet) identified
  kHttp,
  kTls,
  kDns,
  kFtp,
  kFtpData,
  kSsh,
  kSmtp,
  kSmb,     // identified only (no parser): rules on its payload
  kDcerpc,  // identified only (no parser): rules on its payload
  kFailed,  // detection gave up: no known protocol in the first bytes
  kCount
};

// EVE's spelling: "http", "tls", "ftp-data", "failed"; "" for kNone.
std::string_view to_string(AppProto p);
// Rule-header and app-layer-protocol spellings ("http", "http1", "ftp-data", "failed", ...).
std::optional<AppProto> app_proto_from_name(std::string_view name);

// What an FTP data connection carries, by the command its control session issued for it
// (Suricata's ftpdata_command: only RETR and STOR are named).
enum class FtpDataCommand : uint8_t { kOther, kRetr, kStor };

}  // namespace spanguard::core
