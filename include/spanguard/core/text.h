// Small text helpers the configuration-style parsers share (rule files, classification.config,
// threshold.config).
#pragma once

#include <string_view>

namespace spanguard::core {

// `s` without leading and trailing ASCII whitespace (space, \t, \r, \n, \v, \f).
constexpr std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

}  // namespace spanguard::core
