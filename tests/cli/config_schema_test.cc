// The sensor's configuration schema: the documented example in deploy/ is exactly what the tables
// say, and every default loads.
#include "spanguard/cli/config_schema.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace spanguard::cli {
namespace {

TEST(ConfigSchema, DeployExampleIsGeneratedFromTheTables) {
  std::ifstream in(std::string(SPANGUARD_SOURCE_DIR) + "/deploy/spanguard.yaml");
  ASSERT_TRUE(in) << "deploy/spanguard.yaml missing";
  std::stringstream file;
  file << in.rdbuf();
  const std::string generated = core::Config(config_schema()).documented_example() + "\n";
  EXPECT_EQ(file.str(), generated) << "deploy/spanguard.yaml is stale: regenerate it with "
                                      "`spanguard show-config > deploy/spanguard.yaml`";
}

TEST(ConfigSchema, DeployExampleLoadsAsAConfiguration) {
  core::Config config(config_schema());
  EXPECT_NO_THROW(config.load_file(std::string(SPANGUARD_SOURCE_DIR) + "/deploy/spanguard.yaml"));
}

}  // namespace
}  // namespace spanguard::cli
