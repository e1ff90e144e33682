#define _GNU_SOURCE
#include "kernel_fastpath.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// tcx attach types (Linux 6.6); older UAPI headers lack them.
#define SB_TCX_INGRESS 46
#define SB_MAX_LINKS 64

// The few libbpf entry points we use, declared here rather than from libbpf's headers so that building needs none.
struct bpf_object;
struct bpf_map;
struct bpf_program;
typedef int (*print_fn)(int level, const char *format, va_list args);

typedef struct {
    void *handle;
    struct bpf_object *(*open_mem)(const void *, size_t, const void *);
    struct bpf_map *(*find_map)(const struct bpf_object *, const char *);
    int (*set_max_entries)(struct bpf_map *, __u32);
    int (*load)(struct bpf_object *);
    int (*map_fd)(const struct bpf_map *);
    struct bpf_program *(*find_program)(const struct bpf_object *, const char *);
    int (*program_fd)(const struct bpf_program *);
    void (*close)(struct bpf_object *);
    print_fn (*set_print)(print_fn);
    // The kernel's count of possible CPUs, which sizes every per-CPU map value it copies out.
    int (*num_possible_cpus)(void);
} libbpf_api;

struct sb_fastpath {
    libbpf_api api;
    struct bpf_object *object;
    int program_fd;
    sb_fastpath_maps maps;
    int links[SB_MAX_LINKS];
    int link_count;
};

// libbpf reports why a load failed (the verifier's log among it) through its print callback; the last telling line
// is kept for the error message. Loading happens once, at start, on one thread.
static char last_libbpf_message[512];

static int keep_libbpf_message(int level, const char *format, va_list args) {
    (void)level;
    char line[sizeof(last_libbpf_message)];
    vsnprintf(line, sizeof(line), format, args);
    size_t length = strlen(line);
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == ' ')) line[--length] = 0;
    // libbpf ends a failed load with "failed to load object", which names the object, not the cause: keep the line
    // before it.
    if (length > 0 && !strstr(line, "failed to load object")) memcpy(last_libbpf_message, line, length + 1);
    return 0;
}

static bool open_libbpf(libbpf_api *api, char *error, size_t error_size) {
    api->handle = dlopen("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!api->handle) {
        snprintf(error, error_size, "libbpf.so.1 not found (Debian: apt-get install libbpf1): %s", dlerror());
        return false;
    }
#define RESOLVE(field, name)                                                                    \
    if (!(*(void **)&api->field = dlsym(api->handle, name))) {                                  \
        snprintf(error, error_size, "libbpf.so.1 lacks %s (libbpf 1.0 or newer is needed)", name); \
        return false;                                                                           \
    }
    RESOLVE(open_mem, "bpf_object__open_mem")
    RESOLVE(find_map, "bpf_object__find_map_by_name")
    RESOLVE(set_max_entries, "bpf_map__set_max_entries")
    RESOLVE(load, "bpf_object__load")
    RESOLVE(map_fd, "bpf_map__fd")
    RESOLVE(find_program, "bpf_object__find_program_by_name")
    RESOLVE(program_fd, "bpf_program__fd")
    RESOLVE(close, "bpf_object__close")
    RESOLVE(set_print, "libbpf_set_print")
    RESOLVE(num_possible_cpus, "libbpf_num_possible_cpus")
#undef RESOLVE
    return true;
}

// The program compares expiries with bpf_ktime_get_coarse_ns, which usually trails CLOCK_MONOTONIC by up to a tick
// (the resolution of CLOCK_MONOTONIC_COARSE) and can trail further when the timekeeping tick is late (a preempted
// virtual CPU). Installing each expiry early by two ticks, and by at least 20 ms, keeps the fast path from forwarding
// anything after the exact expiry; the last milliseconds' datagrams go to user space, which decides exactly.
static __u64 coarse_clock_margin(void) {
    const __u64 floor = 20000000;
    struct timespec resolution;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &resolution) != 0) return floor;
    __u64 two_ticks = 2 * ((__u64)resolution.tv_sec * 1000000000ull + (__u64)resolution.tv_nsec);
    return two_ticks > floor ? two_ticks : floor;
}

static long bpf_call(int command, union bpf_attr *attributes) {
    return syscall(__NR_bpf, command, attributes, sizeof(*attributes));
}

sb_fastpath *sb_fastpath_load(const void *object, size_t size, __u32 max_routes, char *error, size_t error_size) {
    sb_fastpath *fastpath = calloc(1, sizeof(*fastpath));
    if (!fastpath) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (!open_libbpf(&fastpath->api, error, error_size)) goto fail;
    libbpf_api *api = &fastpath->api;
    api->set_print(keep_libbpf_message);
    last_libbpf_message[0] = 0;
    fastpath->object = api->open_mem(object, size, NULL);
    if (!fastpath->object) {
        snprintf(error, error_size, "the BPF object did not open (%s): %s", strerror(errno), last_libbpf_message);
        goto fail;
    }
    const char *names[] = {"client_channels", "peer_routes", "route_counters"};
    struct bpf_map *maps[3];
    for (int i = 0; i < 3; i++) {
        maps[i] = api->find_map(fastpath->object, names[i]);
        if (!maps[i] || api->set_max_entries(maps[i], max_routes) != 0) {
            snprintf(error, error_size, "the BPF object has no map %s", names[i]);
            goto fail;
        }
    }
    if (api->load(fastpath->object) != 0) {
        int code = errno;
        snprintf(error, error_size, "the kernel refused the BPF program (%s%s): %s", strerror(code),
                 code == EPERM ? "; loading BPF needs root or CAP_BPF with CAP_NET_ADMIN" : "", last_libbpf_message);
        goto fail;
    }
    struct bpf_program *program = api->find_program(fastpath->object, "switchboard_channels");
    fastpath->program_fd = program ? api->program_fd(program) : -1;
    if (fastpath->program_fd < 0) {
        snprintf(error, error_size, "the BPF object has no program switchboard_channels");
        goto fail;
    }
    fastpath->maps.client_channels = api->map_fd(maps[0]);
    fastpath->maps.peer_routes = api->map_fd(maps[1]);
    fastpath->maps.route_counters = api->map_fd(maps[2]);
    struct bpf_map *events = api->find_map(fastpath->object, "fastpath_events");
    fastpath->maps.events = events ? api->map_fd(events) : -1;
    if (fastpath->maps.events < 0) {
        snprintf(error, error_size, "the BPF object has no map fastpath_events");
        goto fail;
    }
    fastpath->maps.possible_cpus = api->num_possible_cpus();
    if (fastpath->maps.possible_cpus < 1) {
        snprintf(error, error_size, "libbpf could not count the possible CPUs (%s)", strerror(-fastpath->maps.possible_cpus));
        goto fail;
    }
    fastpath->maps.expiry_margin_ns = coarse_clock_margin();
    return fastpath;
fail:
    sb_fastpath_close(fastpath);
    return NULL;
}

sb_fastpath_maps sb_fastpath_get_maps(const sb_fastpath *fastpath) { return fastpath->maps; }

int sb_fastpath_attach_ingress(sb_fastpath *fastpath, int ifindex) {
    if (fastpath->link_count >= SB_MAX_LINKS) return -E2BIG;
    union bpf_attr attributes;
    memset(&attributes, 0, sizeof(attributes));
    attributes.link_create.prog_fd = (__u32)fastpath->program_fd;
    attributes.link_create.target_ifindex = (__u32)ifindex;
    attributes.link_create.attach_type = SB_TCX_INGRESS;
    long fd = bpf_call(BPF_LINK_CREATE, &attributes);
    if (fd < 0) return -errno;
    fastpath->links[fastpath->link_count++] = (int)fd;
    return 0;
}

void sb_fastpath_close(sb_fastpath *fastpath) {
    if (!fastpath) return;
    for (int i = 0; i < fastpath->link_count; i++) close(fastpath->links[i]);
    if (fastpath->object) fastpath->api.close(fastpath->object);
    if (fastpath->api.handle) dlclose(fastpath->api.handle);
    free(fastpath);
}

static int map_update(int map, const void *key, const void *value) {
    union bpf_attr attributes;
    memset(&attributes, 0, sizeof(attributes));
    attributes.map_fd = (__u32)map;
    attributes.key = (__u64)(unsigned long)key;
    attributes.value = (__u64)(unsigned long)value;
    attributes.flags = BPF_ANY;
    return bpf_call(BPF_MAP_UPDATE_ELEM, &attributes) == 0 ? 0 : -errno;
}

static int map_delete(int map, const void *key) {
    union bpf_attr attributes;
    memset(&attributes, 0, sizeof(attributes));
    attributes.map_fd = (__u32)map;
    attributes.key = (__u64)(unsigned long)key;
    if (bpf_call(BPF_MAP_DELETE_ELEM, &attributes) == 0 || errno == ENOENT) return 0;
    return -errno;
}

/// Copies the value under `key` into `value`: for a per-CPU map, one copy per possible CPU.
static int map_lookup(int map, const void *key, void *value) {
    union bpf_attr attributes;
    memset(&attributes, 0, sizeof(attributes));
    attributes.map_fd = (__u32)map;
    attributes.key = (__u64)(unsigned long)key;
    attributes.value = (__u64)(unsigned long)value;
    return bpf_call(BPF_MAP_LOOKUP_ELEM, &attributes) == 0 ? 0 : -errno;
}

static struct sb_client_channel_key client_key(const struct sb_channel_route *route) {
    struct sb_client_channel_key key;
    memset(&key, 0, sizeof(key));
    key.client_ip = route->client_ip;
    key.server_ip = route->server_ip;
    key.client_port = route->client_port;
    key.server_port = route->server_port;
    key.channel = route->channel;
    return key;
}

static struct sb_peer_key peer_key(const struct sb_channel_route *route) {
    struct sb_peer_key key;
    memset(&key, 0, sizeof(key));
    key.peer_ip = route->peer_ip;
    key.relay_ip = route->relay_ip;
    key.peer_port = route->peer_port;
    key.relay_port = route->relay_port;
    return key;
}

int sb_route_install(sb_fastpath_maps maps, const struct sb_channel_route *route) {
    struct sb_client_channel_key from_client = client_key(route);
    struct sb_peer_key from_peer = peer_key(route);
    struct sb_channel_route installed = *route;
    installed.expires_ns = route->expires_ns > maps.expiry_margin_ns ? route->expires_ns - maps.expiry_margin_ns : 0;
    int result = map_update(maps.client_channels, &from_client, &installed);
    if (result != 0) return result;
    result = map_update(maps.peer_routes, &from_peer, &installed);
    if (result != 0) map_delete(maps.client_channels, &from_client);
    return result;
}

int sb_route_remove(sb_fastpath_maps maps, const struct sb_channel_route *route) {
    struct sb_client_channel_key from_client = client_key(route);
    struct sb_peer_key from_peer = peer_key(route);
    int first = map_delete(maps.client_channels, &from_client);
    int second = map_delete(maps.peer_routes, &from_peer);
    return first != 0 ? first : second;
}

// A per-CPU map's value buffer holds one copy per possible CPU, each rounded up to 8 bytes (ours already is).
_Static_assert(sizeof(struct sb_route_counters) % 8 == 0, "per-CPU values are 8-byte aligned");

int sb_route_counters_read(sb_fastpath_maps maps, __u32 slot, struct sb_route_counters *out) {
    if (maps.possible_cpus < 1) return -EINVAL;
    struct sb_route_counters *copies = calloc((size_t)maps.possible_cpus, sizeof(*copies));
    if (!copies) return -ENOMEM;
    int result = map_lookup(maps.route_counters, &slot, copies);
    if (result == 0) {
        memset(out, 0, sizeof(*out));
        for (int cpu = 0; cpu < maps.possible_cpus; cpu++) {
            out->packets_to_peer += copies[cpu].packets_to_peer;
            out->bytes_to_peer += copies[cpu].bytes_to_peer;
            out->packets_to_client += copies[cpu].packets_to_client;
            out->bytes_to_client += copies[cpu].bytes_to_client;
        }
    }
    free(copies);
    return result;
}

int sb_route_counters_clear(sb_fastpath_maps maps, __u32 slot) {
    if (maps.possible_cpus < 1) return -EINVAL;
    struct sb_route_counters *zero = calloc((size_t)maps.possible_cpus, sizeof(*zero));
    if (!zero) return -ENOMEM;
    int result = map_update(maps.route_counters, &slot, zero);
    free(zero);
    return result;
}

_Static_assert(sizeof(struct sb_fastpath_events) % 8 == 0, "per-CPU values are 8-byte aligned");

int sb_fastpath_events_read(sb_fastpath_maps maps, struct sb_fastpath_events *out) {
    if (maps.possible_cpus < 1 || maps.events < 0) return -EINVAL;
    struct sb_fastpath_events *copies = calloc((size_t)maps.possible_cpus, sizeof(*copies));
    if (!copies) return -ENOMEM;
    __u32 only = 0;
    int result = map_lookup(maps.events, &only, copies);
    if (result == 0) {
        memset(out, 0, sizeof(*out));
        for (int cpu = 0; cpu < maps.possible_cpus; cpu++) out->checksum_left_to_device += copies[cpu].checksum_left_to_device;
    }
    free(copies);
    return result;
}
