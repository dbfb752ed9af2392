// Application-layer protocol names.
#include "spanguard/core/app_proto.h"

namespace spanguard::core {

namespace {

struct Name {
  std::string_view name;
  AppProto proto;
};
constexpr Name kNames[] = {
    {"http", AppProto::kHttp},        {"http1", AppProto::kHttp},    {"tls", AppProto::kTls},
    {"ssl", AppProto::kTls},          {"dns", AppProto::kDns},       {"ftp", AppProto::kFtp},
    {"ftp-data", AppProto::kFtpData}, {"ssh", AppProto::kSsh},       {"smtp", AppProto::kSmtp},
    {"smb", AppProto::kSmb},          {"dcerpc", AppProto::kDcerpc}, {"failed", AppProto::kFailed},
};

}  // namespace

std::string_view to_string(AppProto p) {
  for (const Name& n : kNames) {
    if (n.proto == p) return n.name;
  }
  return "";
}

std::optional<AppProto> app_proto_from_name(std::string_view name) {
  for (const Name& n : kNames) {
    if (n.name == name) return n.proto;
  }
  return std::nullopt;
}

}  // namespace spanguard::core
