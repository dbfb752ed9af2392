// Builds the namespace test bed with ip/tc/ethtool/sysctl, following the measured traps of this
// kernel: no matchall classifier (a u32 match-all instead), no VLAN device or action (tc-BPF
// instead), offloads off, static neighbours, no IPv6 DAD.
#include "span_testbed.h"

#include <unistd.h>

namespace spanguard::testing {

namespace {

constexpr const char* kOffloadsOff = "tx off rx off tso off gso off gro off";
// The tc-BPF object built from bpf/vlan_tag.c, and the VLAN id compiled into it.
constexpr const char* kBpfObject = SPANGUARD_TEST_BPF_OBJECT;
constexpr int kTrunkVlan = SPANGUARD_TEST_MIRROR_VLAN;

}  // namespace

bool SpanTestbed::step(const std::string& what, int status) {
  if (status != 0 && why_.empty()) why_ = what + " failed (exit " + std::to_string(status) + ")";
  return status == 0;
}

bool SpanTestbed::make_trunks() {
  if (std::string(kBpfObject).empty() || access(kBpfObject, R_OK) != 0) {
    why_ = std::string("802.1Q trunks need the tc-BPF object '") + kBpfObject +
           "', which the build did not produce (clang with the bpf target missing?)";
    return false;
  }
  // Pushing at sw-mir's egress tags the copies the mirred action sends there, and only those;
  // popping at sw-inj's ingress runs after the receive path moved the in-frame tag into skb
  // metadata.
  const std::string obj = kBpfObject;
  return step("load tc-BPF mirror_push on sw-mir",
              switch_->exec("tc qdisc add dev sw-mir clsact && tc filter add dev sw-mir egress "
                            "protocol all prio 1 bpf direct-action obj " +
                            obj + " sec mirror_push")) &&
         step("load tc-BPF inject_pop on sw-inj",
              switch_->exec("tc qdisc add dev sw-inj clsact && tc filter add dev sw-inj ingress "
                            "protocol all prio 1 bpf direct-action obj " +
                            obj + " sec inject_pop"));
}

SpanTestbed::SpanTestbed(SpanTestbedOptions options) {
  client_ = std::make_unique<NetNamespace>("sgc");
  server_ = std::make_unique<NetNamespace>("sgs");
  switch_ = std::make_unique<NetNamespace>("sgw");
  sensor_ = std::make_unique<NetNamespace>("sgn");
  if (!client_->ok() || !server_->ok() || !switch_->ok() || !sensor_->ok()) {
    why_ = "cannot create network namespaces (needs root)";
    return;
  }
  const std::string sw = switch_->name();
  bool good = true;
  auto link = [&](const std::string& a, const std::string& a_ns, const std::string& b,
                  const std::string& b_ns) {
    good =
        good && step("veth " + a + "/" + b, shell("ip link add " + a + " netns " + a_ns +
                                                  " type veth peer name " + b + " netns " + b_ns));
  };
  link("c0", client_->name(), "sw-c", sw);
  link("s0", server_->name(), "sw-s", sw);
  link("mir0", sensor_->name(), "sw-mir", sw);
  link("inj0", sensor_->name(), "sw-inj", sw);
  if (options.split_mirror) link("mir1", sensor_->name(), "sw-mir2", sw);
  if (!good) return;

  // Endpoints: fixed MACs, static neighbours (no ARP/ND), both address families, no default route.
  struct Host {
    const NetNamespace* ns;
    const char* dev;
    const char* mac;
    const char* v4;
    const char* v6;
    const char* peer_mac;
    const char* peer_v4;
    const char* peer_v6;
  };
  const Host hosts[] = {
      {client_.get(), "c0", kClientMac, kClientV4, kClientV6, kServerMac, kServerV4, kServerV6},
      {server_.get(), "s0", kServerMac, kServerV4, kServerV6, kClientMac, kClientV4, kClientV6}};
  for (const Host& h : hosts) {
    const std::string d = h.dev;
    good =
        good &&
        step("configure " + d,
             h.ns->exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=0 "
                        "net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.default.accept_dad=0 "
                        "net.ipv6.conf.all.accept_dad=0 && "
                        "ip link set " +
                        d + " address " + h.mac +
                        " arp off && "
                        "sysctl -qw net.ipv6.conf." +
                        d +
                        ".disable_ipv6=0 "
                        "net.ipv6.conf." +
                        d +
                        ".accept_dad=0 && "
                        "ethtool -K " +
                        d + " " + kOffloadsOff +
                        " >/dev/null 2>&1; "
                        "ip addr add " +
                        h.v4 + "/24 dev " + d +
                        " && "
                        "ip addr add " +
                        h.v6 + "/64 dev " + d +
                        " nodad && "
                        "ip link set " +
                        d +
                        " up && "
                        "ip neigh replace " +
                        h.peer_v4 + " lladdr " + h.peer_mac + " dev " + d +
                        " nud permanent && "
                        "ip -6 neigh replace " +
                        h.peer_v6 + " lladdr " + h.peer_mac + " dev " + d + " nud permanent"));
  }
  // The switch: a bridge over the endpoint ports and the injection port; every frame arriving from
  // an endpoint is also copied to the mirror port (u32 match-all: this kernel has no
  // matchall/flower).
  good =
      good && step("switch",
                   switch_->exec(
                       "ip link add br0 type bridge && ip link set br0 up && "
                       "for p in sw-c sw-s sw-inj sw-mir" +
                       std::string(options.split_mirror ? " sw-mir2" : "") +
                       "; do "
                       "  ethtool -K $p " +
                       std::string(kOffloadsOff) +
                       " >/dev/null 2>&1; "
                       "  ip link set $p up || exit 1; done && "
                       "for p in sw-c sw-s sw-inj; do ip link set $p master br0 || exit 1; done && "
                       "for p in sw-c sw-s; do "
                       "  tc qdisc add dev $p clsact || exit 1; done && "
                       "tc filter add dev sw-c ingress protocol all prio 10 u32 match u32 0 0 "
                       "  action mirred egress mirror dev sw-mir && "
                       "tc filter add dev sw-s ingress protocol all prio 10 u32 match u32 0 0 "
                       "  action mirred egress mirror dev " +
                       std::string(options.split_mirror ? "sw-mir2" : "sw-mir")));
  // The sensor's two interfaces: capture (mirror destination) and injection.
  good =
      good && step("sensor", sensor_->exec("for d in mir0 inj0" +
                                           std::string(options.split_mirror ? " mir1" : "") +
                                           "; do "
                                           "ethtool -K $d " +
                                           std::string(kOffloadsOff) +
                                           " >/dev/null 2>&1; ip link set $d up || exit 1; done"));
  if (good && options.tagged_mirror) {
    good = make_trunks();
    if (good) mirror_vlan_ = kTrunkVlan;
  }
  ok_ = good;
}

}  // namespace spanguard::testing
