// Dropping root, checked from the outside: each drop runs in a forked child, which reports its
// /proc/self/status lines through a pipe for the parent to judge. Errors that must come before any
// change run in the test process itself, which must still be root afterwards.
#include "spanguard/ops/privileges.h"

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace spanguard::ops {
namespace {

using testing::HasSubstr;

constexpr gid_t kNogroup = 65534;

// Runs `body` in a forked child and returns what it wrote, or "error: <what>" if it threw.
std::string run_in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    try {
      out = body();
    } catch (const std::exception& e) {
      out = std::string("error: ") + e.what();
    }
    const char* p = out.data();
    size_t left = out.size();
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += "\nchild did not exit cleanly";
  return out;
}

// "Uid:\t0\t0\t0\t0" lines of /proc/self/status, by key, values with single spaces.
std::map<std::string, std::string> status_lines(const std::string& text) {
  std::map<std::string, std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream fields(line.substr(colon + 1));
    std::string value, field;
    while (fields >> field) value += (value.empty() ? "" : " ") + field;
    lines[line.substr(0, colon)] = value;
  }
  return lines;
}

std::string proc_status() {
  std::ifstream in("/proc/self/status");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string hex_mask(std::initializer_list<unsigned> caps) {
  uint64_t mask = 0;
  for (unsigned cap : caps) mask |= uint64_t{1} << cap;
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(mask));
  return text;
}

class DropPrivileges : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "dropping privileges needs root";
    if (getpwnam("nobody") == nullptr || getgrnam("nogroup") == nullptr) {
      GTEST_SKIP() << "needs the nobody user and the nogroup group";
    }
  }
};

TEST_F(DropPrivileges, BecomesNobodyKeepingOnlyNetRaw) {
  const std::string out = run_in_child([] {
    drop_privileges({.user = "nobody",
                     .group = "nogroup",
                     .keep_caps = {"net_raw"},
                     .supplementary_groups = false});
    return proc_status();
  });
  ASSERT_THAT(out, testing::Not(HasSubstr("error:"))) << out;
  const auto status = status_lines(out);
  EXPECT_EQ(status.at("Uid"), "65534 65534 65534 65534");
  EXPECT_EQ(status.at("Gid"), "65534 65534 65534 65534");
  EXPECT_EQ(status.at("Groups"), "");
  EXPECT_EQ(status.at("CapEff"), hex_mask({CAP_NET_RAW}));
  EXPECT_EQ(status.at("CapPrm"), hex_mask({CAP_NET_RAW}));
  EXPECT_EQ(status.at("CapBnd"), hex_mask({CAP_NET_RAW}));
  EXPECT_EQ(status.at("CapInh"), hex_mask({}));
  EXPECT_EQ(status.at("CapAmb"), hex_mask({}));
}

TEST_F(DropPrivileges, ReturnsTheCredentialsItReadBack) {
  const std::string out = run_in_child([] {
    const Credentials c = drop_privileges({.user = "nobody",
                                           .group = "nogroup",
                                           .keep_caps = {"CAP_NET_ADMIN", "net_raw", "net_raw"},
                                           .supplementary_groups = false});
    return c.describe() + (running_as_root() ? " root" : " not-root");
  });
  EXPECT_EQ(out,
            "uid=65534 gid=65534 groups=[] effective=[net_admin,net_raw] "
            "permitted=[net_admin,net_raw] bounding=[net_admin,net_raw] not-root");
}

TEST_F(DropPrivileges, KeepingNothingEmptiesEverySetAndRootCannotBeRegained) {
  const std::string out = run_in_child([] {
    drop_privileges({.user = "nobody", .supplementary_groups = false});
    std::string status = proc_status();
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) status += "\nRegained: yes\n";
    return status;
  });
  ASSERT_THAT(out, testing::Not(HasSubstr("error:"))) << out;
  const auto status = status_lines(out);
  EXPECT_EQ(status.at("Uid"), "65534 65534 65534 65534");
  // No group given: the user's primary group.
  EXPECT_EQ(status.at("Gid"), std::to_string(getpwnam("nobody")->pw_gid) + " " +
                                  std::to_string(getpwnam("nobody")->pw_gid) + " " +
                                  std::to_string(getpwnam("nobody")->pw_gid) + " " +
                                  std::to_string(getpwnam("nobody")->pw_gid));
  EXPECT_EQ(status.at("CapEff"), hex_mask({}));
  EXPECT_EQ(status.at("CapPrm"), hex_mask({}));
  EXPECT_EQ(status.at("CapBnd"), hex_mask({}));
  EXPECT_EQ(status.count("Regained"), 0u);
}

TEST_F(DropPrivileges, SupplementaryGroupsAreTheUsers) {
  // What initgroups("nobody", nogroup) gives, computed here as the expectation.
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  ASSERT_GE(getgrouplist("nobody", kNogroup, groups.data(), &count), 0);
  groups.resize(static_cast<size_t>(count));
  std::sort(groups.begin(), groups.end());
  std::string expected;
  for (gid_t g : groups) expected += (expected.empty() ? "" : " ") + std::to_string(g);

  const std::string out = run_in_child([] {
    drop_privileges({.user = "nobody", .group = "nogroup", .keep_caps = {"net_raw"}});
    return proc_status();
  });
  ASSERT_THAT(out, testing::Not(HasSubstr("error:"))) << out;
  EXPECT_EQ(status_lines(out).at("Groups"), expected);
}

TEST_F(DropPrivileges, UnknownUserFailsBeforeAnythingChanges) {
  const std::string before = current_credentials().describe();
  try {
    drop_privileges({.user = "spanguard-no-such-user", .keep_caps = {"net_raw"}});
    FAIL() << "dropped to a user that does not exist";
  } catch (const core::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "no such user 'spanguard-no-such-user'");
  }
  EXPECT_EQ(current_credentials().describe(), before);
  EXPECT_TRUE(running_as_root());
}

TEST_F(DropPrivileges, UnknownGroupFailsBeforeAnythingChanges) {
  const std::string before = current_credentials().describe();
  try {
    drop_privileges({.user = "nobody", .group = "spanguard-no-such-group"});
    FAIL() << "dropped to a group that does not exist";
  } catch (const core::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "no such group 'spanguard-no-such-group'");
  }
  EXPECT_EQ(current_credentials().describe(), before);
}

TEST_F(DropPrivileges, UnknownCapabilityFailsBeforeAnythingChanges) {
  const std::string before = current_credentials().describe();
  try {
    drop_privileges({.user = "nobody", .keep_caps = {"net_raw", "net_rawr"}});
    FAIL() << "accepted an unknown capability";
  } catch (const core::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown capability 'net_rawr'"));
  }
  EXPECT_EQ(current_credentials().describe(), before);
}

TEST_F(DropPrivileges, RootAsTargetIsRefused) {
  try {
    drop_privileges({.user = "root"});
    FAIL() << "accepted root as the user to become";
  } catch (const core::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "user 'root' has uid 0: choose an unprivileged one");
  }
}

TEST(Capabilities, NamesAreCaseInsensitiveWithOrWithoutPrefix) {
  EXPECT_EQ(capability_from_name("net_raw"), unsigned{CAP_NET_RAW});
  EXPECT_EQ(capability_from_name("CAP_NET_RAW"), unsigned{CAP_NET_RAW});
  EXPECT_EQ(capability_from_name("Net_Admin"), unsigned{CAP_NET_ADMIN});
  EXPECT_THROW(capability_from_name(""), core::ConfigError);
  EXPECT_THROW(capability_from_name("cap_"), core::ConfigError);
  EXPECT_THROW(capability_from_name("raw"), core::ConfigError);
}

TEST(Credentials, DescribeShowsDifferingIdsAndExtraSets) {
  Credentials c;
  c.uid = 1000;
  c.euid = 0;
  c.suid = 0;
  c.gid = c.egid = c.sgid = 5;
  c.groups = {5, 27};
  c.effective = {"net_raw"};
  c.ambient = {"net_raw"};
  EXPECT_TRUE(c.root());
  EXPECT_EQ(c.describe(),
            "uid=1000/0/0 gid=5 groups=[5,27] effective=[net_raw] permitted=[] bounding=[] "
            "ambient=[net_raw]");
}

TEST(PrivilegeConfig, ReadsTheRunSection) {
  core::Config config({&privilege_params()});
  const PrivilegeOptions defaults = privilege_options(config);
  EXPECT_EQ(defaults.user, "");
  EXPECT_EQ(defaults.keep_caps, std::vector<std::string>{"net_raw"});
  EXPECT_FALSE(root_allowed(config));

  config.load_string(
      "run:\n  user: spanguard\n  keep_caps: [net_raw, net_admin]\n"
      "  allow_root: true\n",
      "test.yaml");
  const PrivilegeOptions o = privilege_options(config);
  EXPECT_EQ(o.user, "spanguard");
  EXPECT_EQ(o.group, "");
  EXPECT_EQ(o.keep_caps, (std::vector<std::string>{"net_raw", "net_admin"}));
  EXPECT_TRUE(root_allowed(config));
}

TEST(PrivilegeConfig, DocumentedExampleListsEveryKey) {
  const std::string example = core::Config({&privilege_params()}).documented_example();
  for (const char* key : {"user", "group", "keep_caps", "allow_root"}) {
    EXPECT_THAT(example, HasSubstr(key));
  }
}

TEST(PrivilegeConfig, UnknownCapabilityNamesTheKey) {
  core::Config config({&privilege_params()});
  config.set("run.keep_caps=[net_raw, sys_bogus]");
  try {
    privilege_options(config);
    FAIL() << "accepted an unknown capability";
  } catch (const core::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--set: run.keep_caps: unknown capability 'sys_bogus'"));
  }
}

}  // namespace
}  // namespace spanguard::ops
