// Leaving root after start-up: the sensor opens its capture handles and sockets as root, then
// becomes an unprivileged user that keeps only the capabilities it still needs (net_raw to inject
// resets, for instance). Built on libcap-ng; every step is checked by reading the credentials back.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/core/error.h"

namespace spanguard::ops {

// The "run" configuration section (user, group, keep_caps, allow_root).
const core::ParamSection& privilege_params();

struct PrivilegeOptions {
  std::string user = {};   // name of the account to become; must not be uid 0
  std::string group = {};  // empty: the user's primary group
  // Capabilities kept in the permitted, effective and bounding sets: "net_raw", "NET_ADMIN" or
  // "cap_net_raw" alike. Empty: none is kept.
  std::vector<std::string> keep_caps = {};
  // The user's supplementary groups (initgroups), or none at all.
  bool supplementary_groups = true;
};

// Reads run.user, run.group and run.keep_caps; capability names are checked here already
// (ConfigError naming the key). An empty run.user means staying as started: no drop.
PrivilegeOptions privilege_options(const core::Config& config);
// run.allow_root: whether the sensor may keep running as root when run.user is empty.
bool root_allowed(const core::Config& config);

// A capability number from its name as in capabilities(7), case-insensitive, with or without the
// "cap_" prefix. Throws core::ConfigError "unknown capability 'NAME'".
unsigned capability_from_name(std::string_view name);

// The calling thread's credentials (capabilities are per thread; user and group ids per process).
struct Credentials {
  uid_t uid = 0, euid = 0, suid = 0;
  gid_t gid = 0, egid = 0, sgid = 0;
  std::vector<gid_t> groups;  // supplementary
  // Capability names ("net_raw"), in number order.
  std::vector<std::string> effective, permitted, inheritable, bounding, ambient;

  bool root() const { return uid == 0 || euid == 0 || suid == 0; }
  // "uid=65534 gid=65534 groups=[] effective=[net_raw] permitted=[net_raw] bounding=[net_raw]"
  std::string describe() const;
};

// Throws core::RuntimeError when the kernel will not say.
Credentials current_credentials();

// True when any of the real, effective or saved user ids is 0. The CLI refuses to run on as root
// after start-up unless run.allow_root says so.
bool running_as_root();

// Becomes `options.user` and `options.group`, keeps exactly `options.keep_caps`, clears the
// inheritable and ambient sets, and verifies the result: user and group ids (real, effective and
// saved), supplementary groups, every capability set, and that root cannot be regained. Returns the
// credentials read back. Throws core::ConfigError for an unknown user, group or capability (before
// anything changed), core::RuntimeError with the failing step and errno's text otherwise; after a
// RuntimeError the process is in a half-changed state and must exit.
//
// Capabilities belong to threads: call this before starting any thread. A thread that exists
// already loses every capability with the change of user (glibc changes every thread's ids, the
// kernel clears their capabilities) and keeps its old bounding set.
Credentials drop_privileges(const PrivilegeOptions& options);

}  // namespace spanguard::ops
