#ifndef SWITCHBOARD_KERNEL_FASTPATH_H
#define SWITCHBOARD_KERNEL_FASTPATH_H

#include <stddef.h>
#include "channel_routes.h"

// Loads the channel fast path (a tc program) and keeps its maps. libbpf is opened with dlopen at run time, so the
// server builds and runs without it; without it, or without the privilege to load BPF, loading fails with a reason
// and the server relays in user space as before.

/// The program's maps, by descriptor: what user space writes routes into and reads counters from. Plain values, so
/// that any thread may use them (the kernel serialises map updates).
typedef struct {
    int client_channels;
    int peer_routes;
    /// A per-CPU array: one copy of each slot per possible CPU, summed when read.
    int route_counters;
    /// A per-CPU array of one `sb_fastpath_events`.
    int events;
    /// libbpf_num_possible_cpus(): how many copies the kernel copies out per slot.
    int possible_cpus;
    /// How much earlier than asked an expiry is installed: two ticks of the coarse clock the program reads, and at
    /// least 20 ms.
    __u64 expiry_margin_ns;
} sb_fastpath_maps;

typedef struct sb_fastpath sb_fastpath;

/// Loads the ELF object (`object`, `size` bytes) with room for `max_routes` channels. NULL on failure, with the
/// reason in `error`.
sb_fastpath *sb_fastpath_load(const void *object, size_t size, __u32 max_routes, char *error, size_t error_size);
sb_fastpath_maps sb_fastpath_get_maps(const sb_fastpath *fastpath);
/// Attaches the program to interface `ifindex`'s tc ingress through a tcx link, which the kernel removes when this
/// process ends however it ends. 0, or -errno.
int sb_fastpath_attach_ingress(sb_fastpath *fastpath, int ifindex);
/// Detaches everywhere and frees the program and maps.
void sb_fastpath_close(sb_fastpath *fastpath);

/// Writes both directions of a route (client→peer under its ChannelData key, peer→client under its peer key), with
/// its expiry moved `expiry_margin_ns` earlier. 0 or -errno (-E2BIG when the maps are full).
int sb_route_install(sb_fastpath_maps maps, const struct sb_channel_route *route);
/// Removes both directions; missing entries are not an error.
int sb_route_remove(sb_fastpath_maps maps, const struct sb_channel_route *route);
/// The slot's counts, summed over every CPU's copy.
int sb_route_counters_read(sb_fastpath_maps maps, __u32 slot, struct sb_route_counters *out);
int sb_route_counters_clear(sb_fastpath_maps maps, __u32 slot);
/// The program's event counts, summed over every CPU's copy. 0 or -errno.
int sb_fastpath_events_read(sb_fastpath_maps maps, struct sb_fastpath_events *out);

#endif
