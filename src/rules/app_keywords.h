// Keywords that compare what an application-layer parser states about a message rather than
// match its bytes: tls.version, ssl_version, ssl_state, tls.cert_expired, tls.cert_valid,
// tls_cert_notbefore, tls_cert_notafter, dns.opcode, dns.rrtype, ftpbounce.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "spanguard/rules/rule.h"

namespace spanguard::rules {

// A keyword's value that cannot be read: `message` for the diagnostic, `reason` to group by.
struct KeywordError {
  std::string message;
  std::string reason;
};

struct AppFactKeyword {
  std::string_view name;
  AppFact fact;
  bool takes_value;
};
// The keyword's entry, or nullptr when `name` is none of these.
const AppFactKeyword* find_app_fact_keyword(std::string_view name);
// Reads the keyword's value (empty for keywords without one); throws KeywordError.
AppFactTest parse_app_fact(const AppFactKeyword& keyword, std::string_view value);

}  // namespace spanguard::rules
