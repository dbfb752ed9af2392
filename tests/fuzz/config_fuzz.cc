// Fuzzes configuration loading: any YAML text either loads or throws ConfigError, never crashes.
#include <cstdint>
#include <string_view>

#include "spanguard/cli/config_schema.h"
#include "spanguard/core/config.h"
#include "spanguard/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  spanguard::core::Config config(spanguard::cli::config_schema());
  try {
    if (!text.empty() && text.front() == '=') {
      config.set(text.substr(1));
    } else {
      config.load_string(text, "fuzz.yaml");
    }
  } catch (const spanguard::core::ConfigError&) {
  }
  return 0;
}
