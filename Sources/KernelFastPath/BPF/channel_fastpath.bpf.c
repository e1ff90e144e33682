// The kernel fast path for TURN channels (RFC 8656 §12): a tc ingress program that forwards ChannelData from a
// client to its peer, and a peer's UDP datagrams back to the client as ChannelData, for channels user space has
// installed. Anything it does not recognise exactly goes on to the stack untouched, and so to the server's sockets:
// Send/Data indications, unbound or expired channels, peers without a permission, IPv6, IP options, fragments,
// padded ChannelData, GSO packets, and datagrams whose checksum was left to the device that would leave by another
// interface.
//
// Built by the BPFObjectPlugin with the Swift toolchain's clang (-target bpf -O2 -g) and embedded in the server;
// needs no libbpf headers, only the kernel's UAPI headers.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include "channel_routes.h"

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#define ALWAYS_INLINE inline __attribute__((always_inline))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NET16(x) __builtin_bswap16(x)
#else
#define NET16(x) (x)
#endif

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_coarse_ns)(void) = (void *)BPF_FUNC_ktime_get_coarse_ns;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len,
                                   __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_skb_adjust_room)(struct __sk_buff *skb, __s32 len_diff, __u32 mode,
                                   __u64 flags) = (void *)BPF_FUNC_skb_adjust_room;
static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen,
                              __u32 flags) = (void *)BPF_FUNC_fib_lookup;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;

// Sizes are set by the loader before it loads the program.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct sb_client_channel_key);
    __type(value, struct sb_channel_route);
} client_channels SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct sb_peer_key);
    __type(value, struct sb_channel_route);
} peer_routes SEC(".maps");

// One slot per route and CPU: each CPU adds to its own copy without an atomic instruction or a cache line shared
// with the other CPUs, and the loader sums the copies when user space reads a slot.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sb_route_counters);
} route_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sb_fastpath_events);
} fastpath_events SEC(".maps");

// Not ours: the next tc program, then the stack, see the packet as it came.
#define NOT_OURS TC_ACT_UNSPEC
#define IP_DONT_FRAGMENT 0x4000
#define IP_FRAGMENT_BITS 0x3fff
#define CHANNEL_DATA_HEADER 4

struct udp_headers {
    struct iphdr ip;
    struct udphdr udp;
};

struct channel_data_headers {
    struct iphdr ip;
    struct udphdr udp;
    __u16 channel;
    __u16 length;
};

static ALWAYS_INLINE __u16 ipv4_checksum(const struct iphdr *ip) {
    const __u16 *words = (const __u16 *)ip;
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < (int)(sizeof(*ip) / 2); i++) sum += words[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

// A fresh header, as the relay's own socket would write it: TTL 64, no TOS, DF when the allocation asked for it.
// The UDP checksum is zero (allowed for IPv4), since computing it over the payload here costs more than it guards
// on a path the link layer already checks.
static ALWAYS_INLINE void fill_headers(struct iphdr *ip, struct udphdr *udp, __u32 source_ip, __u16 source_port,
                                       __u32 destination_ip, __u16 destination_port, __u16 udp_length,
                                       __u16 identification, int dont_fragment) {
    ip->version = 4;
    ip->ihl = 5;
    ip->tos = 0;
    ip->tot_len = NET16((__u16)(sizeof(*ip) + udp_length));
    ip->id = identification;
    ip->frag_off = dont_fragment ? NET16(IP_DONT_FRAGMENT) : 0;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->check = 0;
    ip->saddr = source_ip;
    ip->daddr = destination_ip;
    ip->check = ipv4_checksum(ip);
    udp->source = source_port;
    udp->dest = destination_port;
    udp->len = NET16(udp_length);
    udp->check = 0;
}

enum next_hop { HOP_LOCAL, HOP_REDIRECT, HOP_UNKNOWN };

// Whether the sender left the UDP checksum to the transmitting device (the kernel's CHECKSUM_PARTIAL: sent from a
// container's veth or a virtual machine on this host). Such a datagram carries in its checksum field only the sum of
// the pseudo-header, for the device to add the rest to. Read from the packet rather than from the kernel's own flag,
// which a program can reach only with BTF and CAP_PERFMON. A complete checksum equals that sum by chance once in
// 65,535 datagrams; such a datagram merely takes user space.
static ALWAYS_INLINE int checksum_left_to_device(const struct iphdr *ip, const struct udphdr *udp) {
    // Ones' complement sums come out the same whichever byte order the words are read in, so the packet's own words
    // are summed as they lie.
    __u32 sum = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) +
                NET16(IPPROTO_UDP) + udp->len;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    // A sum of 0xffff is also ones' complement zero, which a sender may write as 0.
    return udp->check == (__u16)sum || (sum == 0xffff && udp->check == 0);
}

// Where the rewritten datagram goes: up the stack when the destination is an address of this host (user space said
// so when it installed the route), straight out of an interface when the FIB knows the next hop and its neighbour
// (which needs forwarding enabled on the interface it came in on); otherwise user space handles it.
//
// A datagram whose checksum was left to the transmitting device cannot leave by another interface once rewritten:
// moving the headers by four bytes leaves the kernel's checksum offset pointing at the old place, and the device (or
// the kernel on its behalf) would write the checksum over the new UDP header's port or the ChannelData length. Those
// go through user space. Delivered to a socket of this host, the offset is not used, and the zero UDP checksum needs
// no computing.
static ALWAYS_INLINE enum next_hop find_next_hop(struct __sk_buff *skb, int local, const struct iphdr *ip,
                                                 const struct udphdr *udp, __u32 source, __u32 destination,
                                                 __u16 total_length, struct bpf_fib_lookup *fib) {
    if (local) return HOP_LOCAL;
    __builtin_memset(fib, 0, sizeof(*fib));
    fib->family = 2; // AF_INET
    fib->l4_protocol = IPPROTO_UDP;
    fib->tot_len = total_length;
    fib->ipv4_src = source;
    fib->ipv4_dst = destination;
    fib->ifindex = skb->ingress_ifindex;
    long result = bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
    if (result == BPF_FIB_LKUP_RET_NOT_FWDED) return HOP_LOCAL;
    if (result != BPF_FIB_LKUP_RET_SUCCESS) return HOP_UNKNOWN;
    if (checksum_left_to_device(ip, udp)) {
        __u32 only = 0;
        struct sb_fastpath_events *events = bpf_map_lookup_elem(&fastpath_events, &only);
        if (events) events->checksum_left_to_device += 1;
        return HOP_UNKNOWN;
    }
    return HOP_REDIRECT;
}

static ALWAYS_INLINE int send_on(struct __sk_buff *skb, enum next_hop hop, struct bpf_fib_lookup *fib) {
    if (hop == HOP_LOCAL) return TC_ACT_OK;
    struct ethhdr eth;
    __builtin_memcpy(eth.h_dest, fib->dmac, ETH_ALEN);
    __builtin_memcpy(eth.h_source, fib->smac, ETH_ALEN);
    eth.h_proto = NET16(ETH_P_IP);
    if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0)) return TC_ACT_SHOT;
    return (int)bpf_redirect(fib->ifindex, 0);
}

// This CPU's copy of the slot: tc runs with bottom halves off on one CPU, so no other run of the program can
// interleave with this one there, and plain adds are exact.
static ALWAYS_INLINE void count(__u32 slot, int to_peer, __u64 bytes) {
    struct sb_route_counters *counters = bpf_map_lookup_elem(&route_counters, &slot);
    if (!counters) return;
    if (to_peer) {
        counters->packets_to_peer += 1;
        counters->bytes_to_peer += bytes;
    } else {
        counters->packets_to_client += 1;
        counters->bytes_to_client += bytes;
    }
}

SEC("tc")
int switchboard_channels(struct __sk_buff *skb) {
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != NET16(ETH_P_IP) || skb->gso_size != 0) return NOT_OURS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
        (ip->frag_off & NET16(IP_FRAGMENT_BITS)) != 0)
        return NOT_OURS;
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end) return NOT_OURS;
    __u16 udp_length = NET16(udp->len);
    // Exactly one UDP datagram, nothing trailing: the lengths of every layer agree.
    if (udp_length < sizeof(*udp) || NET16(ip->tot_len) != sizeof(*ip) + udp_length ||
        skb->len != sizeof(*eth) + sizeof(*ip) + udp_length)
        return NOT_OURS;
    __u16 payload = udp_length - sizeof(*udp);
    // The coarse clock (the last tick's time) is cheaper than the exact one; the loader installs each expiry early
    // by a margin well beyond the clock's usual lag of at most a tick, so nothing passes here after the expiry.
    __u64 now = bpf_ktime_get_coarse_ns();
    struct bpf_fib_lookup fib;

    // A client's ChannelData to a listener: channel numbers 0x4000-0x7FFF.
    __u8 *channel_data = (void *)(udp + 1);
    if (channel_data + CHANNEL_DATA_HEADER <= (__u8 *)end && (channel_data[0] & 0xc0) == 0x40) {
        struct sb_client_channel_key key = {
            .client_ip = ip->saddr, .server_ip = ip->daddr,
            .client_port = udp->source, .server_port = udp->dest,
            .channel = *(__u16 *)channel_data,
        };
        struct sb_channel_route *found = bpf_map_lookup_elem(&client_channels, &key);
        if (found) {
            struct sb_channel_route route = *found;
            __u16 length = NET16(*(__u16 *)(channel_data + 2));
            // Padded or short ChannelData, or an expired channel or permission: user space decides.
            if (length + CHANNEL_DATA_HEADER != payload || now >= route.expires_ns) return NOT_OURS;
            __u16 identification = ip->id;
            __u16 total = sizeof(struct udp_headers) + length;
            enum next_hop hop = find_next_hop(skb, route.local_destinations & SB_PEER_IS_LOCAL, ip, udp, route.relay_ip, route.peer_ip, total, &fib);
            if (hop == HOP_UNKNOWN) return NOT_OURS;
            // Takes the 4 bytes after the IP header; the new UDP header then covers the old one's tail and the
            // ChannelData header, and the application data follows it unmoved.
            if (bpf_skb_adjust_room(skb, -CHANNEL_DATA_HEADER, BPF_ADJ_ROOM_NET, 0)) return TC_ACT_SHOT;
            struct udp_headers headers;
            fill_headers(&headers.ip, &headers.udp, route.relay_ip, route.relay_port, route.peer_ip,
                         route.peer_port, sizeof(struct udphdr) + length, identification, route.dont_fragment);
            // Through the helper rather than a direct write: direct packet writes make the verifier unclone every
            // cloned packet at the program's entry, ours or not (all traffic while a packet capture runs).
            if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &headers, sizeof(headers), 0)) return TC_ACT_SHOT;
            count(route.counter_slot, 1, length);
            return send_on(skb, hop, &fib);
        }
    }

    // A peer's datagram to a relay address.
    struct sb_peer_key peer_key = {
        .peer_ip = ip->saddr, .relay_ip = ip->daddr, .peer_port = udp->source, .relay_port = udp->dest,
    };
    struct sb_channel_route *found = bpf_map_lookup_elem(&peer_routes, &peer_key);
    if (!found) return NOT_OURS;
    struct sb_channel_route route = *found;
    if (now >= route.expires_ns || payload > 0xffff - sizeof(struct channel_data_headers)) return NOT_OURS;
    __u16 identification = ip->id;
    __u16 total = sizeof(struct channel_data_headers) + payload;
    enum next_hop hop = find_next_hop(skb, route.local_destinations & SB_CLIENT_IS_LOCAL, ip, udp, route.server_ip, route.client_ip, total, &fib);
    if (hop == HOP_UNKNOWN) return NOT_OURS;
    // Four bytes more after the IP header: the new UDP header and the ChannelData header fill them and the old UDP
    // header's place, and the peer's data follows unmoved. No padding: RFC 8656 §12.5 leaves it out over UDP.
    if (bpf_skb_adjust_room(skb, CHANNEL_DATA_HEADER, BPF_ADJ_ROOM_NET, 0)) return TC_ACT_SHOT;
    struct channel_data_headers headers;
    fill_headers(&headers.ip, &headers.udp, route.server_ip, route.server_port, route.client_ip, route.client_port,
                 sizeof(struct udphdr) + CHANNEL_DATA_HEADER + payload, identification, 0);
    headers.channel = route.channel;
    headers.length = NET16(payload);
    if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &headers, sizeof(headers), 0)) return TC_ACT_SHOT;
    count(route.counter_slot, 0, payload);
    return send_on(skb, hop, &fib);
}

char LICENSE[] SEC("license") = "GPL";
