#ifndef SWITCHBOARD_DATAGRAM_IO_H
#define SWITCHBOARD_DATAGRAM_IO_H

#include <stdint.h>

// Batched UDP I/O for the STUN/TURN data plane: recvmmsg/sendmmsg over plain descriptors, with addresses as
// integers so that Swift never formats or parses one. SwiftNIO's datagram channel does the same syscalls but formats
// every source address as text and boxes it; at a few microseconds per datagram that was a fifth of the cost.

/// One datagram in a caller-owned buffer: where it is, who sent it (or where it goes) and, with packet info, which
/// local address it reached. IPv6 addresses are two host-order halves; IPv4 sits in the low 32 bits of address_low.
typedef struct {
    uint64_t address_high;
    uint64_t address_low;
    uint64_t local_high;
    uint64_t local_low;
    uint32_t offset;
    uint32_t length;
    int32_t fd;            // the socket to send from (sends only)
    uint16_t port;
    uint8_t family;        // 4 or 6; 0 marks a datagram to skip (truncated, or from a non-IP source)
    uint8_t local_family;  // 4 or 6 when packet info told the destination address; else 0
} sb_datagram;

/// The syscall scratch (mmsghdr, iovec, sockaddr and control arrays) for batches of up to `capacity` datagrams.
typedef struct sb_io sb_io;

sb_io *sb_io_create(unsigned capacity);
void sb_io_destroy(sb_io *io);

/// A non-blocking UDP socket bound to the address; returns the descriptor or -errno. `bound_port` gets the port.
/// `shared` sets SO_REUSEADDR (and SO_REUSEPORT with `reuse_port`): listeners only. A relay socket must never share
/// its port, or a relay bound to a listener's port would take that listener's datagrams.
int sb_udp_open(uint8_t family, uint64_t address_high, uint64_t address_low, uint16_t port, int shared, int reuse_port,
                int buffer_bytes, int packet_info, int dont_fragment, uint16_t *bound_port);

/// Reads up to `count` datagrams, datagram i into buffer + i * slot; returns how many (0 when none waits) or -errno.
int sb_udp_receive(int fd, sb_io *io, uint8_t *buffer, uint32_t slot, unsigned count, sb_datagram *out);

/// Sends every datagram from its own `fd`, grouping each socket's datagrams (in order) into sendmmsg calls. A socket
/// whose buffer is full drops the rest of its share, as the network would. Returns how many were dropped.
unsigned sb_udp_send(sb_io *io, const uint8_t *buffer, sb_datagram *datagrams, unsigned count);

int sb_epoll_create(void);
int sb_epoll_add(int epoll_fd, int fd);
int sb_epoll_remove(int epoll_fd, int fd);
/// Waits for readable descriptors; returns how many were written to `fds` (0 on timeout or EINTR) or -errno.
int sb_epoll_wait(int epoll_fd, int *fds, int max, int timeout_ms);

int sb_eventfd_create(void);
void sb_eventfd_signal(int fd);
void sb_eventfd_drain(int fd);

int sb_close(int fd);
/// Names the calling thread (at most 15 bytes show), so profiles and `top -H` tell the loops apart.
void sb_name_thread(const char *name);
/// Monotonic clock in nanoseconds.
uint64_t sb_monotonic_ns(void);
/// Sleeps until the monotonic clock reads `deadline` (nanoseconds), through signals.
void sb_sleep_until_ns(uint64_t deadline);
/// How late the kernel may end the calling thread's sleeps to merge timers (PR_SET_TIMERSLACK).
void sb_set_timer_slack_ns(unsigned long slack);

#endif
