// Configuration: typed values from YAML and --set, errors that name the key and the place,
// defaults, and the documented example derived from the tables.
#include "spanguard/core/config.h"

#include <gtest/gtest.h>

#include <chrono>

#include "spanguard/core/error.h"

namespace spanguard::core {
namespace {

constexpr Param kOverrideFields[] = {
    {.name = "port",
     .type = ParamType::kInt,
     .default_value = "0",
     .help = "port",
     .min = 0,
     .max = 65535},
    {.name = "timeout", .type = ParamType::kDuration, .default_value = "1h", .help = "timeout"},
};

constexpr Param kFlowParams[] = {
    {.name = "memcap",
     .type = ParamType::kBytes,
     .default_value = "128MiB",
     .help = "memory cap",
     .min = 1024},
    {.name = "vlan_aware", .type = ParamType::kBool, .default_value = "true", .help = "vlan"},
    {.name = "timeout.established",
     .type = ParamType::kDuration,
     .default_value = "1h",
     .help = "established",
     .min = 1,
     .max = 86400},
    {.name = "timeout.new", .type = ParamType::kDuration, .default_value = "30s", .help = "new"},
    {.name = "policy",
     .type = ParamType::kEnum,
     .default_value = "linux",
     .help = "policy",
     .choices = "first|last|linux"},
    {.name = "max_flows",
     .type = ParamType::kInt,
     .default_value = "1000",
     .help = "flows",
     .min = 1,
     .max = 100000},
    {.name = "overrides",
     .type = ParamType::kRecordList,
     .default_value = "[]",
     .help = "per-port timeouts",
     .fields = kOverrideFields},
};
constexpr Param kCaptureParams[] = {
    {.name = "interfaces", .type = ParamType::kStringList, .default_value = "[]", .help = "ifs"},
    {.name = "bpf", .type = ParamType::kString, .default_value = "\"\"", .help = "filter"},
};
constexpr Param kRuleParams[] = {
    {.name = "vars",
     .type = ParamType::kStringMap,
     .default_value = "{HOME_NET: any}",
     .help = "variables"},
};
constexpr ParamSection kFlow{"flow", "Flows", kFlowParams};
constexpr ParamSection kCapture{"capture", "Capture", kCaptureParams};
constexpr ParamSection kRules{"rules", "Rules", kRuleParams};

Config make() { return Config({&kFlow, &kCapture, &kRules}); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Config, DefaultsComeFromTheTables) {
  Config c = make();
  EXPECT_EQ(c.get("flow.memcap").as_bytes(), 128u << 20);
  EXPECT_TRUE(c.get("flow.vlan_aware").as_bool());
  EXPECT_EQ(c.get("flow.timeout.established").as_duration(), std::chrono::hours(1));
  EXPECT_EQ(c.get("flow.policy").as_string(), "linux");
  EXPECT_TRUE(c.get("capture.interfaces").as_strings().empty());
  EXPECT_EQ(c.get("rules.vars").as_map().at(0).first, "HOME_NET");
  EXPECT_FALSE(c.is_set("flow.memcap"));
}

TEST(Config, LoadsNestedYamlIntoDottedKeys) {
  Config c = make();
  c.load_string(
      "flow:\n"
      "  memcap: 64MiB\n"
      "  timeout:\n"
      "    established: 2h\n"
      "    new: 500ms\n"
      "  overrides:\n"
      "    - port: 22\n"
      "      timeout: 4h\n"
      "capture:\n"
      "  interfaces: [eth1, eth2]\n",
      "test.yaml");
  EXPECT_EQ(c.get("flow.memcap").as_bytes(), 64u << 20);
  EXPECT_EQ(c.get("flow.timeout.established").as_duration(), std::chrono::hours(2));
  EXPECT_EQ(c.get("flow.timeout.new").as_duration(), std::chrono::milliseconds(500));
  ASSERT_EQ(c.get("flow.overrides").as_records().size(), 1u);
  const ConfigRecord& r = c.get("flow.overrides").as_records()[0];
  EXPECT_EQ(r.get("port").as_int(), 22);
  EXPECT_EQ(r.get("timeout").as_duration(), std::chrono::hours(4));
  EXPECT_EQ(c.get("capture.interfaces").as_strings(), (std::vector<std::string>{"eth1", "eth2"}));
  EXPECT_TRUE(c.is_set("flow.memcap"));
  EXPECT_FALSE(c.is_set("flow.vlan_aware"));
}

TEST(Config, AcceptsSizeAndDurationUnits) {
  Config c = make();
  c.set("flow.memcap=1gb");
  EXPECT_EQ(c.get("flow.memcap").as_bytes(), 1ull << 30);
  c.set("flow.memcap=4096");
  EXPECT_EQ(c.get("flow.memcap").as_bytes(), 4096u);
  c.set("flow.memcap=1.5KiB");
  EXPECT_EQ(c.get("flow.memcap").as_bytes(), 1536u);
  c.set("flow.timeout.established=90");
  EXPECT_EQ(c.get("flow.timeout.established").as_duration(), std::chrono::seconds(90));
  c.set("flow.timeout.established=2m");
  EXPECT_EQ(c.get("flow.timeout.established").as_duration(), std::chrono::minutes(2));
}

TEST(Config, UnknownKeyNamesPathLineAndSuggestion) {
  Config c = make();
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  memcapp: 1MiB\n", "s.yaml"); }),
            "s.yaml:2:3: unknown key 'flow.memcapp' (did you mean 'flow.memcap'?)");
  EXPECT_EQ(error_of([&] { c.load_string("nosuch: 1\n", "s.yaml"); }),
            "s.yaml:1:1: unknown key 'nosuch'");
}

TEST(Config, WrongTypeNamesKeyAndValue) {
  Config c = make();
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  memcap: lots\n", "s.yaml"); }),
            "s.yaml:2:11: flow.memcap: expected a size such as 65536, 64KiB or 256MiB, got 'lots'");
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  vlan_aware: maybe\n", "s.yaml"); }),
            "s.yaml:2:15: flow.vlan_aware: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  policy: bsd\n", "s.yaml"); }),
            "s.yaml:2:11: flow.policy: expected one of first|last|linux, got 'bsd'");
  EXPECT_EQ(error_of([&] { c.load_string("flow: 3\n", "s.yaml"); }),
            "s.yaml:1:7: flow: expected a mapping of keys");
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  max_flows: [1]\n", "s.yaml"); }),
            "s.yaml:2:14: flow.max_flows: expected an integer, got a list");
}

TEST(Config, OutOfRangeNamesTheRange) {
  Config c = make();
  EXPECT_EQ(error_of([&] { c.set("flow.max_flows=0"); }),
            "--set: flow.max_flows: 0 is out of range 1..100000");
  EXPECT_EQ(error_of([&] { c.set("flow.timeout.established=2d"); }),
            "--set: flow.timeout.established: 2d is out of range 1..86400");
}

TEST(Config, RecordFieldsAreValidated) {
  Config c = make();
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  overrides:\n    - prot: 22\n", "s.yaml"); }),
            "s.yaml:3:7: flow.overrides[0]: unknown field 'prot' (fields: port, timeout)");
  EXPECT_EQ(error_of([&] { c.load_string("flow:\n  overrides:\n    - port: 70000\n", "s.yaml"); }),
            "s.yaml:3:13: flow.overrides[0].port: 70000 is out of range 0..65535");
}

TEST(Config, SetOverridesFileAndRejectsUnknownKeys) {
  Config c = make();
  c.load_string("flow:\n  memcap: 64MiB\n", "s.yaml");
  c.set("flow.memcap=32MiB");
  EXPECT_EQ(c.get("flow.memcap").as_bytes(), 32u << 20);
  c.set("capture.interfaces=[a, b]");
  EXPECT_EQ(c.get("capture.interfaces").as_strings().size(), 2u);
  c.set("capture.bpf=");
  EXPECT_EQ(c.get("capture.bpf").as_string(), "");
  EXPECT_EQ(error_of([&] { c.set("flow.memcop=1"); }),
            "--set flow.memcop=1: unknown key 'flow.memcop' (did you mean 'flow.memcap'?)");
  EXPECT_EQ(error_of([&] { c.set("novalue"); }), "--set novalue: expected KEY=VALUE");
}

TEST(Config, InvalidYamlNamesLineAndColumn) {
  Config c = make();
  const std::string e = error_of([&] { c.load_string("flow:\n  memcap: [1, 2\n", "bad.yaml"); });
  EXPECT_TRUE(e.starts_with("bad.yaml:")) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
}

TEST(Config, MissingFileNamesThePath) {
  Config c = make();
  EXPECT_EQ(error_of([&] { c.load_file("/nonexistent/spanguard.yaml"); }),
            "/nonexistent/spanguard.yaml: cannot read configuration: No such file or directory");
}

TEST(Config, DocumentedExampleListsEveryKeyAndLoadsBack) {
  Config c = make();
  const std::string text = c.documented_example();
  for (const char* key : {"memcap: 128MiB", "timeout:", "established: 1h", "overrides: []",
                          "interfaces: []", "vars: {HOME_NET: any}", "# memory cap"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
  Config reloaded = make();
  reloaded.load_string(text, "example.yaml");
  EXPECT_EQ(reloaded.get("flow.memcap").as_bytes(), 128u << 20);
  EXPECT_EQ(reloaded.get("flow.timeout.new").as_duration(), std::chrono::seconds(30));
}

TEST(Config, BadDefaultInATableIsAProgrammingError) {
  static constexpr Param kBad[] = {
      {.name = "x", .type = ParamType::kInt, .default_value = "ten", .help = "x"}};
  static constexpr ParamSection kSection{"bad", "bad", kBad};
  EXPECT_THROW(Config({&kSection}), std::logic_error);
}

}  // namespace
}  // namespace spanguard::core
