// The spanguard binary as an operator meets it: exit codes and error messages for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "process.h"

namespace spanguard::testing {
namespace {

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = temp_path(name);
  std::ofstream(path) << content;
  return path;
}

TEST(Cli, VersionNamesTheLibraries) {
  const RunResult r = run({spanguard_binary(), "version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("spanguard "), std::string::npos);
  EXPECT_NE(r.out.find("libpcap"), std::string::npos);
  EXPECT_NE(r.out.find("hyperscan"), std::string::npos);
  EXPECT_NE(r.out.find("libnet"), std::string::npos);
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* cmd : {"version", "replay", "run", "check-rules", "show-config"}) {
    const RunResult r = run({spanguard_binary(), cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, MissingSubcommandOrRequiredFlagIsAUsageError) {
  EXPECT_EQ(run({spanguard_binary()}).status, 2);
  const RunResult r = run({spanguard_binary(), "replay"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--pcap is required"), std::string::npos) << r.err;
  EXPECT_EQ(run({spanguard_binary(), "replay", "--pcap", "x", "--workers", "0"}).status, 2);
}

TEST(Cli, UnreadableCaptureIsARuntimeErrorNamingTheFile) {
  const RunResult missing = run({spanguard_binary(), "replay", "--pcap", "/nonexistent/a.pcap"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("/nonexistent/a.pcap: cannot read capture"), std::string::npos)
      << missing.err;

  const std::string garbage = write_file("garbage.pcap", std::string(4096, 'Z'));
  const RunResult bad = run({spanguard_binary(), "replay", "--pcap", garbage});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find(garbage + ": cannot read capture: unknown file format"), std::string::npos)
      << bad.err;
}

TEST(Cli, ConfigErrorsNameTheKeyAndPlace) {
  const std::string garbage = write_file("x.pcap", "");
  const RunResult unknown =
      run({spanguard_binary(), "replay", "--pcap", garbage, "--set", "capture.snaplenn=100"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown key 'capture.snaplenn' (did you mean 'capture.snaplen'?)"),
            std::string::npos)
      << unknown.err;

  const std::string config = write_file("bad.yaml", "capture:\n  snaplen: huge\n");
  const RunResult typed = run({spanguard_binary(), "replay", "--pcap", garbage, "-c", config});
  EXPECT_EQ(typed.status, 2);
  EXPECT_NE(typed.err.find(config + ":2:12: capture.snaplen: expected an integer, got 'huge'"),
            std::string::npos)
      << typed.err;

  const RunResult level =
      run({spanguard_binary(), "replay", "--pcap", garbage, "--log-level", "loud"});
  EXPECT_EQ(level.status, 2);
  EXPECT_NE(level.err.find("log level 'loud'"), std::string::npos) << level.err;
}

TEST(Cli, RunWithoutInterfaceIsAUsageError) {
  const RunResult r = run({spanguard_binary(), "run"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no interface to capture from"), std::string::npos) << r.err;
}

TEST(Cli, MissingInterfaceIsARuntimeErrorNamingIt) {
  if (geteuid() != 0) GTEST_SKIP() << "opening interfaces needs root";
  const RunResult r = run({spanguard_binary(), "run", "--interface", "sgnosuch0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("interface 'sgnosuch0': no such interface"), std::string::npos) << r.err;
}

TEST(Cli, BadBpfFilterIsAConfigErrorNamingTheKey) {
  if (geteuid() != 0) GTEST_SKIP() << "opening interfaces needs root";
  const RunResult r = run({spanguard_binary(), "run", "--interface", "lo", "--set",
                           "capture.bpf_filter=tcp port banana"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("capture.bpf_filter: 'tcp port banana'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spanguard::testing
