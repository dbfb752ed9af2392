// What the line- and banner-based parsers (SSH, FTP, SMTP) share: the direction of the bytes, the
// verdict of a content probe, and the FTP/SMTP disambiguation both protocols need, since both
// servers greet with "220" (RFC 959 §5.4, RFC 5321 §4.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace spanguard::applayer {

enum class Side : uint8_t { kClient, kServer };

enum class Probe : uint8_t { kNo, kYes, kNeedMore };

// A probe's verdict on the first bytes of one direction, and which end of the connection sent
// them when the content tells (an SSH identification line may come from either: no side).
struct ProbeResult {
  Probe probe = Probe::kNo;
  std::optional<Side> side;
};

enum class TextProtocol : uint8_t { kUnknown, kFtp, kSmtp };

namespace detail {

inline char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

inline bool contains_nocase(std::string_view text, std::string_view word) {
  if (word.size() > text.size()) return false;
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    size_t k = 0;
    while (k < word.size() && ascii_upper(text[i + k]) == word[k]) ++k;
    if (k == word.size()) return true;
  }
  return false;
}

// The first word of a command line, if it ends (SP, CR or LF) within `line`.
inline std::optional<std::string_view> first_word(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == ' ' || line[i] == '\r' || line[i] == '\n') return line.substr(0, i);
  }
  return std::nullopt;
}

inline bool equals_nocase(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != upper[i]) return false;
  }
  return true;
}

}  // namespace detail

// Commands that open an FTP session (RFC 959 USER/ACCT/SYST, RFC 2228 AUTH, RFC 2389 FEAT/OPTS,
// RFC 7151 HOST) or an SMTP one (RFC 5321 §4.1.1.1 EHLO/HELO). Other first commands (NOOP, QUIT,
// HELP) exist in both and decide nothing.
inline TextProtocol protocol_of_first_command(std::string_view line) {
  const auto word = detail::first_word(line);
  if (!word) return TextProtocol::kUnknown;
  for (const std::string_view ftp : {"USER", "AUTH", "FEAT", "SYST", "OPTS", "HOST", "ACCT"}) {
    if (detail::equals_nocase(*word, ftp)) return TextProtocol::kFtp;
  }
  for (const std::string_view smtp : {"EHLO", "HELO"}) {
    if (detail::equals_nocase(*word, smtp)) return TextProtocol::kSmtp;
  }
  return TextProtocol::kUnknown;
}

// The protocol a greeting's text names: "SMTP" (also in "ESMTP", RFC 5321 §4.3.1 suggests it)
// or "FTP" ("vsFTPd", "Microsoft FTP Service"); neither or both decide nothing.
inline TextProtocol protocol_named_by_greeting(std::string_view greeting) {
  const bool smtp = detail::contains_nocase(greeting, "SMTP");
  // "SMTP" does not contain "FTP", so a hit on both means the text names both.
  const bool ftp = detail::contains_nocase(greeting, "FTP");
  if (smtp == ftp) return TextProtocol::kUnknown;
  return smtp ? TextProtocol::kSmtp : TextProtocol::kFtp;
}

// FTP or SMTP, from the server's first line and the client's first command line (either may be
// empty when not seen yet). The client's command is what the session really does, so it wins; the
// greeting's words decide when the command does not.
inline TextProtocol ftp_or_smtp(std::string_view server_greeting, std::string_view client_first) {
  const TextProtocol by_command = protocol_of_first_command(client_first);
  if (by_command != TextProtocol::kUnknown) return by_command;
  return protocol_named_by_greeting(server_greeting);
}

}  // namespace spanguard::applayer
