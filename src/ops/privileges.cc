// Dropping root with libcap-ng: the bounding set is reduced first (while CAP_SETPCAP is still
// ours), then capng_change_id switches group, supplementary groups and user keeping only the
// listed capabilities, and everything is read back, since a half-applied drop must never pass.
#include "spanguard/ops/privileges.h"

#include <cap-ng.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/fmt/fmt.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace spanguard::ops {

namespace {

constexpr core::Param kParams[] = {
    {.name = "user",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Account the sensor becomes once its capture handles and sockets are open (empty: "
             "it stays as started)"},
    {.name = "group",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Group it becomes (empty: the user's primary group); supplementary groups are the "
             "user's"},
    {.name = "keep_caps",
     .type = core::ParamType::kStringList,
     .default_value = "[net_raw]",
     .help = "Capabilities kept after becoming run.user, as in capabilities(7) (net_raw, "
             "net_admin); every other one is dropped, from the bounding set too"},
    {.name = "allow_root",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Let the sensor run on as root when run.user is empty (otherwise it refuses to)"},
};

constexpr core::ParamSection kSection{"run", "Privileges after start-up", kParams};

// Bounds the buffers of the reentrant account look-ups (an account with thousands of members).
constexpr size_t kMaxLookupBuffer = 1 << 20;

std::string errno_text(int error) {
  return error != 0 ? std::strerror(error) : "no reason given by the system";
}

struct Account {
  uid_t uid;
  gid_t gid;
};

Account find_user(const std::string& name) {
  const long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : 16384);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int rc = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) throw core::RuntimeError("cannot look up user '" + name + "': " + errno_text(rc));
    if (found == nullptr) throw core::ConfigError("no such user '" + name + "'");
    return {entry.pw_uid, entry.pw_gid};
  }
}

gid_t find_group(const std::string& name) {
  const long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : 16384);
  for (;;) {
    group entry{};
    group* found = nullptr;
    const int rc = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) {
      throw core::RuntimeError("cannot look up group '" + name + "': " + errno_text(rc));
    }
    if (found == nullptr) throw core::ConfigError("no such group '" + name + "'");
    return entry.gr_gid;
  }
}

// The groups initgroups(user, gid) will give: `gid` and every group listing the user.
std::vector<gid_t> groups_of(const std::string& user, gid_t gid) {
  std::vector<gid_t> groups(32);
  for (;;) {
    int count = static_cast<int>(groups.size());
    if (getgrouplist(user.c_str(), gid, groups.data(), &count) >= 0) {
      groups.resize(static_cast<size_t>(count));
      return groups;
    }
    if (count <= static_cast<int>(groups.size())) {
      throw core::RuntimeError("cannot list the groups of user '" + user + "'");
    }
    groups.resize(static_cast<size_t>(count));
  }
}

std::vector<gid_t> sorted_unique(std::vector<gid_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string capability_name(unsigned capability) {
  const char* name = capng_capability_to_name(capability);
  return name != nullptr ? name : std::to_string(capability);
}

// The highest capability the running kernel knows (it may know more than libcap-ng).
unsigned last_capability() {
  unsigned last = 0;
  while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) ++last;
  return last;
}

// What capng_change_id's result means (capng_change_id(3)).
std::string_view change_id_step(int rc) {
  switch (rc) {
    case -1:
      return "libcap-ng was not initialised";
    case -2:
      return "cannot keep capabilities across the change of user (PR_SET_KEEPCAPS)";
    case -3:
      return "cannot apply the intermediate capabilities";
    case -4:
      return "cannot change the group id";
    case -5:
      return "cannot set the supplementary groups";
    case -6:
      return "cannot change the user id";
    case -7:
      return "cannot stop keeping capabilities (PR_SET_KEEPCAPS)";
    case -8:
      return "cannot clear the bounding set";
    case -9:
      return "cannot apply the final capabilities";
    case -10:
      return "cannot find the user's account to set its supplementary groups";
    default:
      return "failed";
  }
}

std::string join(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
  }
  return out + "]";
}

}  // namespace

const core::ParamSection& privilege_params() { return kSection; }

PrivilegeOptions privilege_options(const core::Config& config) {
  PrivilegeOptions o;
  o.user = config.get("run.user").as_string();
  o.group = config.get("run.group").as_string();
  const core::ConfigValue& caps = config.get("run.keep_caps");
  o.keep_caps = caps.as_strings();
  for (const std::string& name : o.keep_caps) {
    try {
      capability_from_name(name);
    } catch (const core::ConfigError& e) {
      throw core::ConfigError(caps.origin() + ": " + caps.key() + ": " + e.what());
    }
  }
  if (o.user.empty() && config.is_set("run.group")) {
    const core::ConfigValue& group = config.get("run.group");
    throw core::ConfigError(group.origin() + ": run.group: needs run.user");
  }
  return o;
}

bool root_allowed(const core::Config& config) { return config.get("run.allow_root").as_bool(); }

unsigned capability_from_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view bare = lower;
  if (bare.starts_with("cap_")) bare.remove_prefix(4);
  const int capability = bare.empty() ? -1 : capng_name_to_capability(std::string(bare).c_str());
  if (capability < 0) {
    throw core::ConfigError("unknown capability '" + std::string(name) +
                            "' (names as in capabilities(7): net_raw, net_admin, ...)");
  }
  return static_cast<unsigned>(capability);
}

std::string Credentials::describe() const {
  const auto ids = [](auto real_id, auto effective_id, auto saved_id) {
    return real_id == effective_id && real_id == saved_id
               ? std::to_string(real_id)
               : fmt::format("{}/{}/{}", real_id, effective_id, saved_id);
  };
  std::string out = "uid=" + ids(uid, euid, suid) + " gid=" + ids(gid, egid, sgid) + " groups=[";
  for (size_t i = 0; i < groups.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(groups[i]);
  }
  out += "] effective=" + join(effective) + " permitted=" + join(permitted) +
         " bounding=" + join(bounding);
  if (!inheritable.empty()) out += " inheritable=" + join(inheritable);
  if (!ambient.empty()) out += " ambient=" + join(ambient);
  return out;
}

Credentials current_credentials() {
  Credentials c;
  if (getresuid(&c.uid, &c.euid, &c.suid) != 0 || getresgid(&c.gid, &c.egid, &c.sgid) != 0) {
    throw core::RuntimeError("cannot read the process's user and group ids: " + errno_text(errno));
  }
  const int count = getgroups(0, nullptr);
  if (count < 0)
    throw core::RuntimeError("cannot read the supplementary groups: " + errno_text(errno));
  c.groups.resize(static_cast<size_t>(count));
  if (count > 0 && getgroups(count, c.groups.data()) != count) {
    throw core::RuntimeError("cannot read the supplementary groups: " + errno_text(errno));
  }

  // capget(2) through libcap-ng for the calling thread's sets; the bounding and ambient sets
  // straight from prctl(2), which answers for the calling thread too.
  if (capng_get_caps_process() != 0) {
    throw core::RuntimeError("cannot read the capabilities: " + errno_text(errno));
  }
  const unsigned last = last_capability();
  for (unsigned cap = 0; cap <= last; ++cap) {
    if (capng_have_capability(CAPNG_EFFECTIVE, cap)) c.effective.push_back(capability_name(cap));
    if (capng_have_capability(CAPNG_PERMITTED, cap)) c.permitted.push_back(capability_name(cap));
    if (capng_have_capability(CAPNG_INHERITABLE, cap)) {
      c.inheritable.push_back(capability_name(cap));
    }
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0) c.bounding.push_back(capability_name(cap));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0) {
      c.ambient.push_back(capability_name(cap));
    }
  }
  return c;
}

bool running_as_root() {
  uid_t real = 0, effective = 0, saved = 0;
  if (getresuid(&real, &effective, &saved) != 0) return true;  // cannot tell: assume the worst
  return real == 0 || effective == 0 || saved == 0;
}

Credentials drop_privileges(const PrivilegeOptions& options) {
  // Everything that can be wrong in the options is found before anything changes.
  std::vector<unsigned> keep;
  for (const std::string& name : options.keep_caps) keep.push_back(capability_from_name(name));
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  if (options.user.empty()) throw core::ConfigError("no user to become");
  const Account account = find_user(options.user);
  if (account.uid == 0) {
    throw core::ConfigError("user '" + options.user + "' has uid 0: choose an unprivileged one");
  }
  const gid_t gid = options.group.empty() ? account.gid : find_group(options.group);
  const std::vector<gid_t> expected_groups = options.supplementary_groups
                                                 ? sorted_unique(groups_of(options.user, gid))
                                                 : std::vector<gid_t>{};
  const std::string target =
      fmt::format("user '{}' (uid {}, gid {})", options.user, account.uid, gid);

  capng_clear(CAPNG_SELECT_ALL);
  const auto kept_sets =
      static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET);
  for (unsigned cap : keep) {
    if (capng_update(CAPNG_ADD, kept_sets, cap) != 0) {
      throw core::RuntimeError("cannot keep capability " + capability_name(cap) +
                               ": this kernel does not know it");
    }
  }
  // The bounding set first: reducing it needs CAP_SETPCAP, which the change of user gives up.
  errno = 0;
  if (capng_apply(CAPNG_SELECT_BOUNDS) != 0) {
    throw core::RuntimeError("cannot reduce the capability bounding set: " + errno_text(errno));
  }
  const auto flags = static_cast<capng_flags_t>(
      CAPNG_CLEAR_AMBIENT |
      (options.supplementary_groups ? CAPNG_INIT_SUPP_GRP : CAPNG_DROP_SUPP_GRP));
  errno = 0;
  const int rc = capng_change_id(static_cast<int>(account.uid), static_cast<int>(gid), flags);
  if (rc != 0) {
    const int error = errno;
    throw core::RuntimeError(
        fmt::format("cannot become {}: {}: {}", target, change_id_step(rc), errno_text(error)));
  }

  // Read everything back: the kernel, not libcap-ng's bookkeeping, has the last word.
  const Credentials now = current_credentials();
  const auto fail = [&](std::string_view what) {
    throw core::RuntimeError(
        fmt::format("after becoming {}: {} (now {})", target, what, now.describe()));
  };
  if (now.uid != account.uid || now.euid != account.uid || now.suid != account.uid) {
    fail("the user ids did not change");
  }
  if (now.gid != gid || now.egid != gid || now.sgid != gid) fail("the group ids did not change");
  if (sorted_unique(now.groups) != expected_groups) fail("unexpected supplementary groups");
  std::vector<std::string> kept_names;
  for (unsigned cap : keep) kept_names.push_back(capability_name(cap));
  if (now.effective != kept_names || now.permitted != kept_names) {
    fail("the capabilities are not exactly " + join(kept_names));
  }
  if (now.bounding != kept_names) fail("the bounding set is not exactly " + join(kept_names));
  if (!now.inheritable.empty() || !now.ambient.empty()) {
    fail("inheritable or ambient capabilities remain");
  }
  // CERT POS37-C: a drop is only proven by failing to undo it. Not tried when CAP_SETUID is kept
  // on purpose, since it would then succeed.
  if (!std::binary_search(keep.begin(), keep.end(), static_cast<unsigned>(CAP_SETUID)) &&
      setuid(0) == 0) {
    fail("root can be regained");
  }
  return now;
}

}  // namespace spanguard::ops
