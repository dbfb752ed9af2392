// tc-BPF programs that make the test switch's mirror and injection ports behave like 802.1Q trunk
// ports: this kernel has neither the 802.1Q device nor the tc vlan action, so tags are pushed and
// popped with the skb helpers. Built with `clang -O2 -target bpf`; loaded by `tc ... bpf da obj`.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

// Declared by helper number (linux/bpf.h's enum) so that no libbpf headers are needed.
static long (*bpf_skb_vlan_push)(struct __sk_buff* skb, __be16 proto,
                                 __u16 tci) = (void*)BPF_FUNC_skb_vlan_push;
static long (*bpf_skb_vlan_pop)(struct __sk_buff* skb) = (void*)BPF_FUNC_skb_vlan_pop;

#ifndef MIRROR_VLAN_ID
#define MIRROR_VLAN_ID 100
#endif

// Egress of the mirror destination port: every mirrored copy leaves tagged, as on a SPAN session
// whose sources are trunk ports. The tag goes into the skb's VLAN metadata; veth hands it over as
// such and libpcap writes it back into the captured frame, as with a NIC that strips tags.
__attribute__((section("mirror_push"), used)) int push_mirror_tag(struct __sk_buff* skb) {
  if (bpf_skb_vlan_push(skb, __builtin_bswap16(ETH_P_8021Q), MIRROR_VLAN_ID) != 0) {
    return TC_ACT_SHOT;
  }
  return TC_ACT_OK;
}

// Ingress of the injection port, a trunk that carries only the mirror's VLAN: a frame tagged with
// it is untagged and bridged (the endpoints cannot use VLANs here); anything else is dropped, as a
// trunk without a native VLAN would, so a sensor that forgets to reproduce the tag reaches nobody.
// The receive path has already moved an in-frame tag into the skb metadata before tc runs.
__attribute__((section("inject_pop"), used)) int pop_injected_tag(struct __sk_buff* skb) {
  if (!skb->vlan_present || (skb->vlan_tci & 0x0fff) != MIRROR_VLAN_ID) return TC_ACT_SHOT;
  if (bpf_skb_vlan_pop(skb) != 0) return TC_ACT_SHOT;
  return TC_ACT_OK;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
