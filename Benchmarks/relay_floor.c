/* relay_floor: the floor for a TURN relay that keeps the RFC's one relay socket per allocation, on this kernel.
 * Not a server anyone should run: no authentication, no permissions beyond the one bound peer, no lifetimes, IPv4
 * and UDP only, nothing ever freed. It answers the two requests call_load makes (Allocate, ChannelBind) and relays
 * ChannelData client -> peer and UDP peer -> client with the fewest system calls each I/O style allows, so that
 * `call-load --servers relayfloor,relayflooruring,...` shows what any user-space relay with per-allocation sockets
 * costs before any server logic, and what io_uring changes about it.
 *
 * Usage: relay_floor IP PORT [--threads N] [--uring] [--defer-sends]
 *   PORT 0 picks one; prints "stun udp IP:PORT" once bound, then serves until killed.
 *   --threads N  loops, each with its own SO_REUSEPORT listening socket and its own allocations (default 2)
 *   --defer-sends  epoll style: client -> peer datagrams too wait for the end of the turn (as ours do), not sent
 *                as read
 *   --uring      io_uring instead of epoll: multishot recvmsg on every socket into a provided buffer ring, every send
 *                a SENDMSG entry, registered files; one io_uring_enter per turn submits the turn's sends and waits
 *
 * epoll style, per turn: epoll_wait; one recvmmsg (up to 32) on the listening socket when it is ready, each
 * ChannelData sent to its peer with one sendto on the allocation's relay socket; one recvmmsg (up to 8) per ready
 * relay socket, the datagrams queued for their clients; one sendmmsg on the listening socket for the whole queue. */
#define _GNU_SOURCE
#include "turn_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ALLOCS 16384         /* per loop */
#define HASH_SLOTS 32768         /* per loop, power of two */
#define BUF_SIZE 2048
#define LISTEN_BATCH 32
#define RELAY_BATCH 8
#define OUT_SLOTS 512            /* epoll style: queued peer -> client datagrams per turn */
#define RING_BUFS 4096           /* uring style: provided buffers per loop, power of two */
#define MAX_FILES 16384          /* registered-file table per loop; descriptors above it are refused */

typedef struct {
  uint64_t client_key;
  struct sockaddr_in client, peer, relayed;
  int relay_fd;
  uint16_t channel;
  int bound;
} allocation;

typedef struct {
  int index, listen_fd;
  struct sockaddr_in local;
  allocation *allocs;
  int nallocs;
  int32_t *hash; /* client key -> allocation index, -1 empty */
  /* epoll style */
  int ep;
  /* uring style */
  struct io_uring ring;
  struct io_uring_buf_ring *br;
  uint8_t *bufs;
  struct msghdr recv_template;
  struct { struct msghdr msg; struct iovec iov[2]; struct sockaddr_in to; uint8_t hdr[4]; } *meta; /* per buffer */
  int recycled;
} loop_t;

static int use_uring, nthreads = 2, defer_sends;
static struct sockaddr_in bind_addr;

static uint64_t key_of(const struct sockaddr_in *a) {
  return (uint64_t)a->sin_addr.s_addr << 16 | a->sin_port;
}

static int32_t *slot_for(loop_t *l, uint64_t key) {
  uint64_t h = key * 0x9E3779B97F4A7C15ull;
  for (uint32_t i = (uint32_t)(h >> 40) & (HASH_SLOTS - 1);; i = (i + 1) & (HASH_SLOTS - 1)) {
    int32_t v = l->hash[i];
    if (v < 0 || l->allocs[v].client_key == key) return &l->hash[i];
  }
}

static allocation *find(loop_t *l, const struct sockaddr_in *client) {
  int32_t v = *slot_for(l, key_of(client));
  return v < 0 ? NULL : &l->allocs[v];
}

static void arm_receive(loop_t *l, int fd, uint64_t tag);

/* Answers Allocate (with a new relay socket, or the existing one for a retransmission) and ChannelBind. */
static void control(loop_t *l, const uint8_t *b, int len, const struct sockaddr_in *from) {
  tw_msg m;
  if (tw_parse(b, len, &m) || (b[0] & 0x01) || (b[1] & 0x10)) return; /* requests only */
  uint8_t out[256];
  int n = 0;
  int has_username = 0;
  for (unsigned p = 20; p + 4 <= (unsigned)len;) {
    unsigned at = tw_get16(b + p), al = tw_get16(b + p + 2);
    if (at == TW_A_USERNAME) has_username = 1;
    p += 4 + al + (4 - al % 4) % 4;
  }
  if (m.method == TW_ALLOCATE && !has_username) {
    /* The generator, as a real client, learns REALM and NONCE from a 401 first; nothing it sends is checked. */
    n = tw_begin(out, TW_ALLOCATE | TW_CLASS_ERROR, m.tid);
    uint8_t err[4] = { 0, 0, 4, 1 };
    n += tw_attr(out + n, TW_A_ERROR_CODE, err, 4);
    n += tw_attr(out + n, TW_A_REALM, "floor", 5);
    n += tw_attr(out + n, TW_A_NONCE, "0123456789abcdef", 16);
  } else if (m.method == TW_ALLOCATE) {
    allocation *a = find(l, from);
    if (!a) {
      if (l->nallocs == MAX_ALLOCS) return;
      int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      struct sockaddr_in r = bind_addr;
      r.sin_port = 0;
      socklen_t rl = sizeof r;
      if (fd < 0 || fd >= MAX_FILES || bind(fd, (struct sockaddr *)&r, sizeof r) || getsockname(fd, (struct sockaddr *)&r, &rl)) {
        if (fd >= 0) close(fd);
        return;
      }
      int idx = l->nallocs++;
      a = &l->allocs[idx];
      memset(a, 0, sizeof *a);
      a->client = *from; a->client_key = key_of(from); a->relay_fd = fd; a->relayed = r;
      *slot_for(l, a->client_key) = idx;
      if (use_uring) {
        io_uring_register_files_update(&l->ring, (unsigned)fd, &fd, 1);
        arm_receive(l, fd, (uint64_t)idx + 1);
      } else {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)idx + 1 };
        epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
      }
    }
    n = tw_begin(out, TW_ALLOCATE | TW_CLASS_SUCCESS, m.tid);
    n += tw_attr_xor_addr(out + n, TW_A_XOR_RELAYED_ADDRESS, &a->relayed);
    n += tw_attr_xor_addr(out + n, TW_A_XOR_MAPPED_ADDRESS, from);
    uint8_t life[4]; tw_put32(life, 600);
    n += tw_attr(out + n, TW_A_LIFETIME, life, 4);
  } else if (m.method == TW_CHANNEL_BIND) {
    allocation *a = find(l, from);
    if (!a) return;
    for (unsigned p = 20; p + 4 <= (unsigned)len;) {
      unsigned at = tw_get16(b + p), al = tw_get16(b + p + 2);
      if (p + 4 + al > (unsigned)len) break;
      if (at == TW_A_CHANNEL_NUMBER && al >= 2) a->channel = (uint16_t)tw_get16(b + p + 4);
      if (at == TW_A_XOR_PEER_ADDRESS) tw_xor_addr_parse(b + p + 4, (int)al, &a->peer);
      p += 4 + al + (4 - al % 4) % 4;
    }
    a->bound = a->channel >= 0x4000 && a->peer.sin_family == AF_INET;
    n = tw_begin(out, TW_CHANNEL_BIND | TW_CLASS_SUCCESS, m.tid);
  } else {
    return;
  }
  n = tw_finish(out, n, NULL);
  (void)sendto(l->listen_fd, out, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)from, sizeof *from);
}

/* The allocation a client's ChannelData is for, or NULL when it is not a bound channel of this client. */
static allocation *channel_route(loop_t *l, const uint8_t *b, int len, const struct sockaddr_in *from) {
  if (len < 4) return NULL;
  allocation *a = find(l, from);
  if (!a || !a->bound || tw_get16(b) != a->channel || (int)tw_get16(b + 2) > len - 4) return NULL;
  return a;
}

static int from_peer(const allocation *a, const struct sockaddr_in *from) {
  return a->bound && from->sin_addr.s_addr == a->peer.sin_addr.s_addr && from->sin_port == a->peer.sin_port;
}

/* ---------- epoll style ---------- */

/* The epoll style makes its calls through syscall(2), as ours does: glibc's wrappers of these cancellation points
 * switch asynchronous cancellation on and off around each call in a threaded process, which io_uring's
 * io_uring_enter (liburing makes it directly) does not pay either. */
static void send_to_peer(const allocation *a, const void *data, size_t len) {
  (void)syscall(SYS_sendto, a->relay_fd, data, len, MSG_DONTWAIT, (const struct sockaddr *)&a->peer, sizeof a->peer);
}

static void epoll_loop(loop_t *l) {
  uint8_t (*in)[BUF_SIZE] = malloc(LISTEN_BATCH * BUF_SIZE), (*out)[BUF_SIZE] = malloc(OUT_SLOTS * BUF_SIZE);
  struct sockaddr_in *in_from = calloc(LISTEN_BATCH, sizeof *in_from), *out_from = calloc(OUT_SLOTS, sizeof *out_from);
  struct iovec *in_iov = calloc(LISTEN_BATCH, sizeof *in_iov), *out_iov = calloc(OUT_SLOTS, sizeof *out_iov);
  struct mmsghdr *in_msgs = calloc(LISTEN_BATCH, sizeof *in_msgs), *out_msgs = calloc(OUT_SLOTS, sizeof *out_msgs);
  struct deferred_send { allocation *a; const uint8_t *data; size_t len; } deferred[LISTEN_BATCH];
  int ndeferred = 0;
  l->ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
  epoll_ctl(l->ep, EPOLL_CTL_ADD, l->listen_fd, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int ne = (int)syscall(SYS_epoll_pwait, l->ep, evs, 256, -1, NULL, (size_t)8);
    int queued = 0;
    for (int e = 0; e < ne; e++) {
      uint64_t tag = evs[e].data.u64;
      if (tag == 0) {
        for (int i = 0; i < LISTEN_BATCH; i++) {
          in_iov[i] = (struct iovec){ in[i], BUF_SIZE };
          in_msgs[i].msg_hdr = (struct msghdr){ .msg_name = &in_from[i], .msg_namelen = sizeof in_from[i],
                                                .msg_iov = &in_iov[i], .msg_iovlen = 1 };
        }
        int n = (int)syscall(SYS_recvmmsg, l->listen_fd, in_msgs, LISTEN_BATCH, MSG_DONTWAIT, NULL);
        for (int i = 0; i < n; i++) {
          int len = (int)in_msgs[i].msg_len;
          if (len >= 4 && in[i][0] >= 0x40 && in[i][0] < 0x80) {
            allocation *a = channel_route(l, in[i], len, &in_from[i]);
            if (a && defer_sends) deferred[ndeferred++] = (struct deferred_send){ a, in[i] + 4, tw_get16(in[i] + 2) };
            else if (a) send_to_peer(a, in[i] + 4, tw_get16(in[i] + 2));
          } else {
            control(l, in[i], len, &in_from[i]);
          }
        }
        continue;
      }
      allocation *a = &l->allocs[tag - 1];
      if (queued + RELAY_BATCH > OUT_SLOTS) {
        (void)syscall(SYS_sendmmsg, l->listen_fd, out_msgs, (unsigned)queued, MSG_DONTWAIT);
        queued = 0;
      }
      struct mmsghdr *rm = &out_msgs[queued];
      for (int i = 0; i < RELAY_BATCH; i++) {
        out_iov[queued + i] = (struct iovec){ out[queued + i] + 4, BUF_SIZE - 4 };
        rm[i].msg_hdr = (struct msghdr){ .msg_name = &out_from[queued + i], .msg_namelen = sizeof out_from[0],
                                         .msg_iov = &out_iov[queued + i], .msg_iovlen = 1 };
      }
      int n = (int)syscall(SYS_recvmmsg, a->relay_fd, rm, RELAY_BATCH, MSG_DONTWAIT, NULL);
      int base = queued, kept = 0;
      for (int i = 0; i < n; i++) {
        if (!from_peer(a, &out_from[base + i])) continue;
        int len = (int)rm[i].msg_len, k = base + kept++;
        if (k != base + i) memmove(out[k] + 4, out[base + i] + 4, (size_t)len);
        tw_channel_data(out[k], a->channel, (unsigned)len);
        out_iov[k] = (struct iovec){ out[k], (size_t)len + 4 };
        out_from[k] = a->client;
        out_msgs[k].msg_hdr = (struct msghdr){ .msg_name = &out_from[k], .msg_namelen = sizeof out_from[k],
                                               .msg_iov = &out_iov[k], .msg_iovlen = 1 };
      }
      queued = base + kept;
    }
    for (int i = 0; i < ndeferred; i++)
      send_to_peer(deferred[i].a, deferred[i].data, deferred[i].len);
    ndeferred = 0;
    if (queued) (void)syscall(SYS_sendmmsg, l->listen_fd, out_msgs, (unsigned)queued, MSG_DONTWAIT);
  }
}

/* ---------- io_uring style ---------- */

#define TAG_SEND (1ull << 62)

static struct io_uring_sqe *next_sqe(loop_t *l) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
  if (!sqe) { io_uring_submit(&l->ring); sqe = io_uring_get_sqe(&l->ring); }
  if (!sqe) { fprintf(stderr, "relay_floor: submission queue full after a submit\n"); exit(1); }
  return sqe;
}

/* Multishot recvmsg on a registered socket (its descriptor is its index), buffers from group 0. tag 0 is the
 * listening socket, i + 1 allocation i's relay socket. */
static void arm_receive(loop_t *l, int fd, uint64_t tag) {
  struct io_uring_sqe *sqe = next_sqe(l);
  io_uring_prep_recvmsg_multishot(sqe, fd, &l->recv_template, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, tag);
}

static void recycle(loop_t *l, unsigned bid) {
  io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                        io_uring_buf_ring_mask(RING_BUFS), l->recycled++);
}

static void send_buffer(loop_t *l, unsigned bid, int fd, const struct sockaddr_in *to, const uint8_t *hdr,
                        const void *payload, size_t len) {
  typeof(l->meta[0]) *m = &l->meta[bid];
  m->to = *to;
  int n = 0;
  if (hdr) { memcpy(m->hdr, hdr, 4); m->iov[n++] = (struct iovec){ m->hdr, 4 }; }
  m->iov[n++] = (struct iovec){ (void *)payload, len };
  m->msg = (struct msghdr){ .msg_name = &m->to, .msg_namelen = sizeof m->to, .msg_iov = m->iov, .msg_iovlen = (size_t)n };
  struct io_uring_sqe *sqe = next_sqe(l);
  io_uring_prep_sendmsg(sqe, fd, &m->msg, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, TAG_SEND | bid);
}

static void uring_setup(loop_t *l) {
  struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                                        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                               .cq_entries = 4 * RING_BUFS };
  int r = io_uring_queue_init_params(2048, &l->ring, &p);
  if (r < 0) { fprintf(stderr, "relay_floor: io_uring_queue_init: %s\n", strerror(-r)); exit(1); }
  if ((r = io_uring_register_files_sparse(&l->ring, MAX_FILES)) < 0) {
    fprintf(stderr, "relay_floor: register files: %s\n", strerror(-r)); exit(1);
  }
  io_uring_register_ring_fd(&l->ring);
  l->br = aligned_alloc(4096, RING_BUFS * sizeof(struct io_uring_buf));
  memset(l->br, 0, RING_BUFS * sizeof(struct io_uring_buf)); /* the tail starts at 0 */
  struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)l->br, .ring_entries = RING_BUFS, .bgid = 0 };
  if ((r = io_uring_register_buf_ring(&l->ring, &reg, 0)) < 0) {
    fprintf(stderr, "relay_floor: buffer ring: %s\n", strerror(-r)); exit(1);
  }
  l->bufs = aligned_alloc(4096, (size_t)RING_BUFS * BUF_SIZE);
  l->meta = calloc(RING_BUFS, sizeof l->meta[0]);
  for (unsigned b = 0; b < RING_BUFS; b++) recycle(l, b);
  io_uring_buf_ring_advance(l->br, RING_BUFS);
  l->recycled = 0;
  l->recv_template = (struct msghdr){ .msg_namelen = sizeof(struct sockaddr_in) };
  io_uring_register_files_update(&l->ring, (unsigned)l->listen_fd, &l->listen_fd, 1);
  arm_receive(l, l->listen_fd, 0);
}

static void uring_loop(loop_t *l) {
  uint64_t *rearm = calloc(MAX_ALLOCS + 1, sizeof *rearm);
  for (;;) {
    io_uring_submit_and_wait(&l->ring, 1);
    int nrearm = 0;
    l->recycled = 0;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&l->ring, head, cqe) {
      seen++;
      uint64_t tag = cqe->user_data;
      if (tag & TAG_SEND) { recycle(l, (unsigned)(tag & 0xffff)); continue; }
      if (!(cqe->flags & IORING_CQE_F_MORE)) rearm[nrearm++] = tag;
      if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) continue;
      unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      uint8_t *buf = l->bufs + (size_t)bid * BUF_SIZE;
      struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &l->recv_template);
      if (!o || o->namelen < sizeof(struct sockaddr_in) || (o->flags & MSG_TRUNC)) { recycle(l, bid); continue; }
      const struct sockaddr_in *from = io_uring_recvmsg_name(o);
      uint8_t *data = io_uring_recvmsg_payload(o, &l->recv_template);
      int len = (int)io_uring_recvmsg_payload_length(o, cqe->res, &l->recv_template);
      if (tag == 0) {
        if (len >= 4 && data[0] >= 0x40 && data[0] < 0x80) {
          allocation *a = channel_route(l, data, len, from);
          if (a) { send_buffer(l, bid, a->relay_fd, &a->peer, NULL, data + 4, tw_get16(data + 2)); continue; }
        } else {
          control(l, data, len, from);
        }
        recycle(l, bid);
        continue;
      }
      allocation *a = &l->allocs[tag - 1];
      if (!from_peer(a, from)) { recycle(l, bid); continue; }
      uint8_t hdr[4];
      tw_channel_data(hdr, a->channel, (unsigned)len);
      send_buffer(l, bid, l->listen_fd, &a->client, hdr, data, (size_t)len);
    }
    io_uring_cq_advance(&l->ring, seen);
    if (l->recycled) io_uring_buf_ring_advance(l->br, l->recycled);
    for (int i = 0; i < nrearm; i++) {
      uint64_t tag = rearm[i];
      arm_receive(l, tag == 0 ? l->listen_fd : l->allocs[tag - 1].relay_fd, tag);
    }
  }
}

/* Every loop's ring is set up (on its own thread: a single-issuer ring belongs to the thread that made it) before
 * the readiness line, so a failure to set one up is an exit before it, not a server dying mid-run. */
static pthread_barrier_t ready;

static void *run(void *arg) {
  loop_t *l = arg;
  if (use_uring) uring_setup(l);
  pthread_barrier_wait(&ready);
  if (use_uring) uring_loop(l); else epoll_loop(l);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: relay_floor IP PORT [--threads N] [--uring] [--defer-sends]\n"); return 2; }
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--uring")) use_uring = 1;
    else if (!strcmp(argv[i], "--defer-sends")) defer_sends = 1;
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = atoi(argv[++i]);
    else { fprintf(stderr, "relay_floor: unknown option %s\n", argv[i]); return 2; }
  }
  if (nthreads < 1 || nthreads > 64) { fprintf(stderr, "relay_floor: --threads 1..64\n"); return 2; }
  bind_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
  if (inet_pton(AF_INET, argv[1], &bind_addr.sin_addr) != 1) { fprintf(stderr, "relay_floor: bad IP\n"); return 2; }
  loop_t *loops = calloc((size_t)nthreads, sizeof *loops);
  for (int t = 0; t < nthreads; t++) {
    loop_t *l = &loops[t];
    l->index = t;
    l->allocs = calloc(MAX_ALLOCS, sizeof *l->allocs);
    l->hash = malloc(HASH_SLOTS * sizeof *l->hash);
    memset(l->hash, 0xff, HASH_SLOTS * sizeof *l->hash);
    l->listen_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int one = 1, big = 4 << 20;
    setsockopt(l->listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(l->listen_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(l->listen_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    socklen_t sl = sizeof l->local;
    if (bind(l->listen_fd, (struct sockaddr *)&bind_addr, sizeof bind_addr) ||
        getsockname(l->listen_fd, (struct sockaddr *)&l->local, &sl)) {
      perror("relay_floor: bind"); return 1;
    }
    bind_addr.sin_port = l->local.sin_port; /* the next loops share the port */
  }
  pthread_barrier_init(&ready, NULL, (unsigned)nthreads + 1);
  pthread_t th[64];
  for (int t = 0; t < nthreads; t++) {
    int e = pthread_create(&th[t], NULL, run, &loops[t]);
    if (e) { fprintf(stderr, "relay_floor: pthread_create: %s\n", strerror(e)); return 1; }
  }
  pthread_barrier_wait(&ready);
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &bind_addr.sin_addr, ip, sizeof ip);
  printf("stun udp %s:%u\n", ip, ntohs(bind_addr.sin_port));
  fflush(stdout);
  for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
  return 0;
}
