// Linux only: epoll, eventfd, recvmmsg/sendmmsg and UDP_SEGMENT have no portable equivalents, and the package
// builds for Linux alone (Package.swift names no other platform).
#if !defined(__linux__)
#error "CDatagramIO needs Linux (epoll, recvmmsg/sendmmsg, UDP GSO)"
#endif

#define _GNU_SOURCE
#include "datagram_io.h"

#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// recvmmsg, sendmmsg and epoll_wait are cancellation points, so glibc's wrappers (Debian 12's 2.36) switch the
// thread's asynchronous cancellation on and off around every call in a threaded process. Nothing here cancels
// threads, and at call load (a call or two per datagram) that switching showed in profiles, so the loop makes these
// calls through syscall(2) instead.

#define CONTROL_BYTES 64
#define VECTORS_PER_MESSAGE 64

// UDP GSO (UDP_SEGMENT): datagrams for one destination of one size leave as a single send that the kernel cuts
// into datagrams as late as it can (on loopback, at the receiving socket), so the IP and device path runs once per
// run rather than once per datagram. Segments are capped below a common path MTU: an oversized segment fails the
// whole send (EINVAL), where a lone datagram would have been fragmented.
#define MAX_GSO_SEGMENTS 64
#define MAX_GSO_BYTES 60000
#define MAX_GSO_SEGMENT_SIZE 1400

struct sb_io {
    unsigned capacity;
    unsigned vector_capacity;
    int gso;
    struct mmsghdr *messages;
    uint16_t *segment_sizes;
    struct iovec *vectors;
    struct sockaddr_storage *addresses;
    char *control;
};

/// Kernels before 4.18 ignore a UDP_SEGMENT control message without an error and send the whole run as one
/// datagram; the socket option came with the same patch, so asking for it tells whether segmentation exists.
static int kernel_segments_udp(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int size = MAX_GSO_SEGMENT_SIZE;
    int supported = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof(size)) == 0;
    close(fd);
    return supported;
}

sb_io *sb_io_create(unsigned capacity) {
    sb_io *io = calloc(1, sizeof(sb_io));
    if (!io) return NULL;
    io->capacity = capacity;
    io->vector_capacity = capacity * VECTORS_PER_MESSAGE;
    io->gso = kernel_segments_udp();
    io->messages = calloc(capacity, sizeof(struct mmsghdr));
    io->segment_sizes = calloc(capacity, sizeof(uint16_t));
    io->vectors = calloc(io->vector_capacity, sizeof(struct iovec));
    io->addresses = calloc(capacity, sizeof(struct sockaddr_storage));
    io->control = calloc(capacity, CONTROL_BYTES);
    if (!io->messages || !io->segment_sizes || !io->vectors || !io->addresses || !io->control) {
        sb_io_destroy(io);
        return NULL;
    }
    return io;
}

void sb_io_destroy(sb_io *io) {
    if (!io) return;
    free(io->messages);
    free(io->segment_sizes);
    free(io->vectors);
    free(io->addresses);
    free(io->control);
    free(io);
}

static void v6_to_halves(const struct in6_addr *in, uint64_t *high, uint64_t *low) {
    uint64_t h = 0, l = 0;
    for (int i = 0; i < 8; i++) h = h << 8 | in->s6_addr[i];
    for (int i = 8; i < 16; i++) l = l << 8 | in->s6_addr[i];
    *high = h;
    *low = l;
}

static void halves_to_v6(uint64_t high, uint64_t low, struct in6_addr *out) {
    for (int i = 7; i >= 0; i--) { out->s6_addr[i] = (uint8_t)high; high >>= 8; }
    for (int i = 15; i >= 8; i--) { out->s6_addr[i] = (uint8_t)low; low >>= 8; }
}

static socklen_t make_sockaddr(uint8_t family, uint64_t high, uint64_t low, uint16_t port,
                               struct sockaddr_storage *storage) {
    memset(storage, 0, sizeof(*storage));
    if (family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)storage;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl((uint32_t)low);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)storage;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    halves_to_v6(high, low, &sin6->sin6_addr);
    return sizeof(*sin6);
}

int sb_udp_open(uint8_t family, uint64_t address_high, uint64_t address_low, uint16_t port, int shared, int reuse_port,
                int buffer_bytes, int packet_info, int dont_fragment, uint16_t *bound_port) {
    int domain = family == 4 ? AF_INET : AF_INET6;
    int fd = socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) goto fail;
    if (shared && reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) goto fail;
    if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) goto fail;
    if (buffer_bytes > 0) {
        // Best effort: the kernel caps these at net.core.{r,w}mem_max.
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    }
    if (packet_info) {
        if (family == 4 && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0) goto fail;
        if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0) goto fail;
    }
    if (dont_fragment && family == 4) {
        int mode = IP_PMTUDISC_DO;
        if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &mode, sizeof(mode)) < 0) goto fail;
    }
    struct sockaddr_storage storage;
    socklen_t length = make_sockaddr(family, address_high, address_low, port, &storage);
    if (bind(fd, (struct sockaddr *)&storage, length) < 0) goto fail;
    // Only port 0 needs asking which port it got: a relay socket (one per Allocate) binds the port it booked.
    if (port == 0) {
        length = sizeof(storage);
        if (getsockname(fd, (struct sockaddr *)&storage, &length) < 0) goto fail;
        port = ntohs(family == 4 ? ((struct sockaddr_in *)&storage)->sin_port
                                 : ((struct sockaddr_in6 *)&storage)->sin6_port);
    }
    *bound_port = port;
    return fd;
fail:;
    int error = errno;
    close(fd);
    return -error;
}

static void read_packet_info(struct msghdr *header, sb_datagram *out) {
    out->local_family = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c; c = CMSG_NXTHDR(header, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            out->local_family = 4;
            out->local_high = 0;
            out->local_low = ntohl(info.ipi_addr.s_addr);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            out->local_family = 6;
            v6_to_halves(&info.ipi6_addr, &out->local_high, &out->local_low);
        }
    }
}

int sb_udp_receive(int fd, sb_io *io, uint8_t *buffer, uint32_t slot, unsigned count, sb_datagram *out) {
    if (count > io->capacity) count = io->capacity;
    for (unsigned i = 0; i < count; i++) {
        io->vectors[i].iov_base = buffer + (size_t)i * slot;
        io->vectors[i].iov_len = slot;
        struct msghdr *header = &io->messages[i].msg_hdr;
        header->msg_name = &io->addresses[i];
        header->msg_namelen = sizeof(struct sockaddr_storage);
        header->msg_iov = &io->vectors[i];
        header->msg_iovlen = 1;
        header->msg_control = io->control + (size_t)i * CONTROL_BYTES;
        header->msg_controllen = CONTROL_BYTES;
        header->msg_flags = 0;
    }
    int received;
    do {
        received = (int)syscall(SYS_recvmmsg, fd, io->messages, count, MSG_DONTWAIT, NULL);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    for (int i = 0; i < received; i++) {
        struct msghdr *header = &io->messages[i].msg_hdr;
        sb_datagram *d = &out[i];
        d->offset = (uint32_t)i * slot;
        d->length = io->messages[i].msg_len;
        d->fd = fd;
        d->family = 0;
        if (header->msg_flags & MSG_TRUNC) continue;
        struct sockaddr_storage *source = &io->addresses[i];
        if (source->ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)source;
            d->family = 4;
            d->address_high = 0;
            d->address_low = ntohl(sin->sin_addr.s_addr);
            d->port = ntohs(sin->sin_port);
        } else if (source->ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)source;
            d->family = 6;
            v6_to_halves(&sin6->sin6_addr, &d->address_high, &d->address_low);
            d->port = ntohs(sin6->sin6_port);
        }
        if (header->msg_controllen > 0) read_packet_info(header, d); else d->local_family = 0;
    }
    return received;
}

static int same_destination(const sb_datagram *a, const sb_datagram *b) {
    return a->family == b->family && a->port == b->port && a->address_low == b->address_low &&
           a->address_high == b->address_high;
}

/// A message whose segments the kernel could not send as one: they go one by one.
static unsigned send_each_segment(int fd, const struct msghdr *header) {
    unsigned dropped = 0;
    for (size_t k = 0; k < header->msg_iovlen; k++) {
        struct msghdr single = *header;
        single.msg_iov = &header->msg_iov[k];
        single.msg_iovlen = 1;
        single.msg_control = NULL;
        single.msg_controllen = 0;
        ssize_t sent;
        do {
            sent = sendmsg(fd, &single, MSG_DONTWAIT);
        } while (sent < 0 && errno == EINTR);
        if (sent < 0) dropped += 1;
    }
    return dropped;
}

/// Sends `n` prepared messages on `fd`; returns how many datagrams could not be sent.
static unsigned send_prepared(sb_io *io, int fd, unsigned n) {
    for (unsigned m = 0; m < n; m++) {
        struct msghdr *header = &io->messages[m].msg_hdr;
        if (header->msg_iovlen > 1) {
            header->msg_control = io->control + (size_t)m * CONTROL_BYTES;
            header->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
            struct cmsghdr *c = CMSG_FIRSTHDR(header);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            memcpy(CMSG_DATA(c), &io->segment_sizes[m], sizeof(uint16_t));
        } else {
            header->msg_control = NULL;
            header->msg_controllen = 0;
        }
    }
    unsigned done = 0, dropped = 0;
    while (done < n) {
        int sent = (int)syscall(SYS_sendmmsg, fd, io->messages + done, n - done, MSG_DONTWAIT);
        if (sent >= 0) {
            done += (unsigned)sent;
            continue;
        }
        if (errno == EINTR) continue;
        struct msghdr *header = &io->messages[done].msg_hdr;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            for (unsigned m = done; m < n; m++) dropped += io->messages[m].msg_hdr.msg_iovlen;
            return dropped;
        }
        if (header->msg_iovlen > 1) {
            // No segmentation offload on this path (EIO, EOPNOTSUPP): stop asking for it.
            if (errno != EINVAL && errno != EMSGSIZE) io->gso = 0;
            dropped += send_each_segment(fd, header);
        } else {
            // Refused (a peer's ICMP error, no route, too big for a don't-fragment socket): count it and go on.
            dropped += 1;
        }
        done += 1;
    }
    return dropped;
}

unsigned sb_udp_send(sb_io *io, const uint8_t *buffer, sb_datagram *datagrams, unsigned count) {
    unsigned dropped = 0;
    for (unsigned first = 0; first < count; first++) {
        int fd = datagrams[first].fd;
        if (fd < 0) continue;
        unsigned messages = 0, vectors = 0;
        const sb_datagram *opener = NULL;  // the datagram that opened the last message
        for (unsigned i = first; i < count; i++) {
            sb_datagram *d = &datagrams[i];
            if (d->fd != fd) continue;
            d->fd = -1;
            // Empty datagrams never join: a segment size of 0 means "no segmentation" and the run would leave as one.
            if (opener && io->gso && vectors < io->vector_capacity && d->length == opener->length && d->length > 0 &&
                d->length <= MAX_GSO_SEGMENT_SIZE && same_destination(opener, d)) {
                struct msghdr *last = &io->messages[messages - 1].msg_hdr;
                if (last->msg_iovlen < MAX_GSO_SEGMENTS && (last->msg_iovlen + 1) * d->length <= MAX_GSO_BYTES) {
                    // Joins the last message: its vectors are the most recent, so they stay contiguous.
                    io->vectors[vectors].iov_base = (void *)(buffer + d->offset);
                    io->vectors[vectors].iov_len = d->length;
                    vectors += 1;
                    last->msg_iovlen += 1;
                    continue;
                }
            }
            if (messages == io->capacity || vectors == io->vector_capacity) {
                dropped += send_prepared(io, fd, messages);
                messages = 0;
                vectors = 0;
            }
            io->vectors[vectors].iov_base = (void *)(buffer + d->offset);
            io->vectors[vectors].iov_len = d->length;
            struct msghdr *header = &io->messages[messages].msg_hdr;
            header->msg_namelen = make_sockaddr(d->family, d->address_high, d->address_low, d->port, &io->addresses[messages]);
            header->msg_name = &io->addresses[messages];
            header->msg_iov = &io->vectors[vectors];
            header->msg_iovlen = 1;
            header->msg_flags = 0;
            io->segment_sizes[messages] = (uint16_t)d->length;
            opener = d;
            messages += 1;
            vectors += 1;
        }
        dropped += send_prepared(io, fd, messages);
    }
    return dropped;
}

int sb_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int sb_epoll_add(int epoll_fd, int fd) {
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int sb_epoll_remove(int epoll_fd, int fd) {
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int sb_epoll_wait(int epoll_fd, int *fds, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = (int)syscall(SYS_epoll_pwait, epoll_fd, events, max, timeout_ms, NULL, (size_t)8);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

int sb_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void sb_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

void sb_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof(value));
    (void)ignored;
}

int sb_close(int fd) {
    return close(fd) < 0 ? -errno : 0;
}

uint64_t sb_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

void sb_name_thread(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof(shortened) - 1);
    shortened[sizeof(shortened) - 1] = 0;
    pthread_setname_np(pthread_self(), shortened);
}

void sb_sleep_until_ns(uint64_t deadline) {
    struct timespec until = {.tv_sec = (time_t)(deadline / 1000000000u), .tv_nsec = (long)(deadline % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {}
}

void sb_set_timer_slack_ns(unsigned long slack) {
    prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0);
}
