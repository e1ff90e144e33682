#ifndef SWITCHBOARD_CHANNEL_ROUTES_H
#define SWITCHBOARD_CHANNEL_ROUTES_H

// The layout of the kernel fast path's maps, shared by the BPF program (channel_fastpath.bpf.c) and the loader, so
// that the two can never disagree. Addresses and ports are in network byte order, as they sit in the packet, so the
// program compares them without swapping. IPv4 only: a zero UDP checksum is legal there and not in IPv6.

#include <linux/types.h>

/// A ChannelData datagram from a client to a listener: who sent it, where, on which channel.
struct sb_client_channel_key {
    __u32 client_ip;
    __u32 server_ip;
    __u16 client_port;
    __u16 server_port;
    __u16 channel;      // network byte order, as in the ChannelData header
    __u16 pad;
};

/// A datagram from a peer to a relay address.
struct sb_peer_key {
    __u32 peer_ip;
    __u32 relay_ip;
    __u16 peer_port;
    __u16 relay_port;
};

/// One bound channel, both ways: a copy of it sits under each key.
struct sb_channel_route {
    __u32 client_ip;
    __u32 server_ip;
    __u32 relay_ip;
    __u32 peer_ip;
    __u16 client_port;
    __u16 server_port;
    __u16 relay_port;
    __u16 peer_port;
    __u16 channel;      // network byte order
    __u8 dont_fragment;
    /// SB_PEER_IS_LOCAL, SB_CLIENT_IS_LOCAL: the destination is an address of this host, so the rewritten datagram
    /// goes up the stack; otherwise the kernel's FIB picks the interface and next hop.
    __u8 local_destinations;
    __u32 counter_slot; // index into the counters array
    /// CLOCK_MONOTONIC nanoseconds: the earlier of the channel's and the permission's expiry, installed early by the
    /// loader's margin because the program compares it with the coarse clock (bpf_ktime_get_coarse_ns). From then
    /// on the program hands the datagram to user space, which drops it as the core would.
    __u64 expires_ns;
};

#define SB_PEER_IS_LOCAL 1
#define SB_CLIENT_IS_LOCAL 2

/// What the kernel forwarded for one route; user space reads it back for quotas, events and metrics.
struct sb_route_counters {
    __u64 packets_to_peer;
    __u64 bytes_to_peer;
    __u64 packets_to_client;
    __u64 bytes_to_client;
};

/// What the program saw that concerns no one route; one per-CPU copy, summed when read.
struct sb_fastpath_events {
    /// Datagrams of installed routes left to user space because their checksum was left to the device and they
    /// would have left by another interface.
    __u64 checksum_left_to_device;
};

#endif
