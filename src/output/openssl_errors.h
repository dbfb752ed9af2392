// OpenSSL's error queue as one line of reasons, for messages and logs. Internal to the output
// module.
#pragma once

#include <openssl/err.h>

#include <string>

namespace spanguard::output {

// Empties the calling thread's OpenSSL error queue into "reason; reason" (oldest first, repeats
// left out); `fallback` when the queue holds nothing.
inline std::string take_openssl_errors(const std::string& fallback = "unknown TLS error") {
  std::string out;
  for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    std::string text = reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(code));
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? fallback : out;
}

}  // namespace spanguard::output
