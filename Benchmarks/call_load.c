/* call_load: TURN relay load shaped like calls. Each allocation has its own client UDP socket and its own peer UDP
 * socket; the client sends ChannelData at a fixed rate (open loop), the peer echoes every packet back through the
 * relay at once, so both directions carry the same rate.
 *
 * Build: gcc -O2 -pthread -o call_load call_load.c -lcrypto   (libcrypto for MD5 and HMAC-SHA1; turn_wire.h beside it)
 * Use:   call_load HOST PORT USER PASSWORD [options]
 *   --allocations N     allocations (default 1000)
 *   --rate PPS          open loop: ChannelData packets per second per allocation, each way (default 50)
 *   --closed WINDOW     closed loop instead: each allocation keeps WINDOW packets in flight, a new one sent when one
 *                       comes back (a saturating flow); unanswered after 200 ms counts as timed out and is resent
 *   --payload BYTES     ChannelData payload (default 160; at least 32)
 *   --warmup S          seconds of load before the measured window (default 2)
 *   --seconds S         measured window (default 10)
 *   --server-pid PID    read this process's CPU (utime, stime), VmRSS and threads at the window's edges
 *   --in-flight N       setup transactions in flight (default 256)
 *   --client-ip IP      client sockets' address (default 127.0.0.2), --peer-ip IP peer sockets' (default 127.0.0.3)
 *   --tick-us US        open loop: the sender sleeps at least this long between bursts (default 100)
 *   --bpf-program NAME  also count the CPU time of the BPF programs named NAME (the server's kernel fast path): the
 *                       kernel's run-time statistics are switched on for the run (BPF_ENABLE_STATS) and read at the
 *                       window's edges; prints bpf_us_per_packet and bpf_runs_per_packet (-1 when unavailable)
 *
 * Setup (before any clock starts): every allocation runs Allocate -> 401 (REALM, NONCE) -> Allocate with USERNAME,
 * REALM, NONCE, REQUESTED-TRANSPORT=UDP, MESSAGE-INTEGRITY, FINGERPRINT -> ChannelBind 0x4000 to its own peer socket's
 * address (which installs the permission), IN_FLIGHT allocations under way at once, each request resent with the
 * same transaction ID after 200 ms, doubling, 7 tries. A 401/438 is answered with its nonce (at most 4 times).
 *
 * Load: two threads. The client thread sends the open-loop schedule: packet j of all (N allocations x RATE per
 * second) is due at start + j / (N x RATE), for allocation j mod N, so sends are spread evenly over allocations and
 * time, not bursts; it sends whatever is due (send(), one datagram per socket), then sleeps until the next one is due
 * (at least TICK) in epoll_pwait2 over all client sockets, reading ChannelData answers with recvmmsg. The peer thread
 * waits in epoll over all peer sockets, reads with recvmmsg and echoes each batch to its source (the relayed address)
 * with sendmmsg, stamping its own time into the payload. Payload: magic, allocation, sequence, slot, client send time,
 * peer echo time (CLOCK_MONOTONIC ns), then filler.
 *
 * Measured window: [start + WARMUP, start + WARMUP + SECONDS). Latency and loss count the packets whose client send
 * time falls in the window (sending stops at its end; answers are taken for 0.5 s more): one-way client->peer (peer
 * receive - client send), one-way peer->client (client receive - peer echo), round trip (client receive - client
 * send); loss client->peer = 1 - peer received / client sent, peer->client = 1 - client received / peer echoed,
 * round trip = 1 - client received / client sent. Server CPU per packet = the server's CPU over the window / packets
 * that arrived at a peer or client socket over the window (each is one datagram the server relayed). Generator CPU
 * (whole process and per thread) is over the same window; other CPU is the rest of the machine (/proc/stat).
 * /proc/PID/stat counts in clock ticks (1/100 s here): server_cpu_ticks says how fine the CPU figures are.
 *
 * Prints one line of key=value. Exit 0 when packets came back, 1 when none did, 2 on bad arguments, 3 when setup
 * failed for every allocation. */
#define _GNU_SOURCE
#define TW_CRYPTO
#include "turn_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL 0x4000
#define MAXTRIES 7
#define RTO0_NS 200000000ull
#define BATCH 16
#define BUFSZ 2048
#define TAG_MAGIC 0x43414C4Cu /* "CALL" */
#define HIST_US 1000000        /* 1 us buckets up to 1 s, one overflow bucket */
#define DRAIN_NS 500000000ull
#define CLOSED_TIMEOUT_NS 200000000ull

enum { S_IDLE, S_PROBE, S_AUTH, S_BIND, S_READY, S_FAILED };

typedef struct __attribute__((packed)) {
  uint32_t magic, alloc, seq, slot;
  uint64_t t_client, t_peer;
} tag_t;

typedef struct { uint64_t sent_at; uint32_t seq; } slot_t;

typedef struct {
  int cfd, pfd, stage, tries, challenges;
  uint8_t tid[12];
  uint64_t sent_at, rto;
  uint8_t msg[512]; int len;
  uint8_t nonce[128]; int nonce_len;
  struct sockaddr_in peer, relayed;
  uint32_t answered;   /* packets that came back to the client (all of the run) */
  slot_t *slots;       /* closed loop */
} alloc_t;

typedef struct { uint32_t *b; uint64_t n, over, max; } hist_t;

/* Configuration. */
static const char *user, *password;
static int nalloc = 1000, payload = 160, in_flight = 256, window = 0, tick_us = 100;
static double rate = 50, warmup = 2, seconds = 10;
static int server_pid;

/* Setup state. */
static alloc_t *A;
static uint8_t realm[256], key[16]; static int realm_len = -1;
static uint64_t setup_requests, setup_retransmits, setup_failed, setup_errors[700], setup_timeouts;

/* Load: the ready allocations, the timeline, counters. */
static int *ready, nready;
static uint64_t t0, t_ms, t_me, t_send_end, t_drain_end;
static uint64_t sent_win, peer_rx_win, client_rx_win;            /* by client send time in the window */
static uint64_t sent_total, peer_rx_total, client_rx_total;      /* all, read at the window's edges */
static uint64_t send_errors, echo_errors, bad_client, bad_peer, closed_timeouts;
static hist_t h_c2p, h_p2c, h_rt, h_lag;

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static uint64_t clock_ns(clockid_t c) { struct timespec t; clock_gettime(c, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static void sleep_until(uint64_t t) {
  struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}
static void add(uint64_t *c, uint64_t v) { __atomic_fetch_add(c, v, __ATOMIC_RELAXED); }
static uint64_t get(uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }
static int in_window(uint64_t t) { return t >= t_ms && t < t_me; }

static void hist_init(hist_t *h) { h->b = calloc(HIST_US, sizeof *h->b); }
static void hist_add(hist_t *h, uint64_t ns) {
  uint64_t us = ns / 1000;
  if (us >= HIST_US) h->over++; else h->b[us]++;
  if (us > h->max) h->max = us;
  h->n++;
}
/* The q-quantile in us (HIST_US when it lies in the overflow bucket). */
static uint64_t hist_q(const hist_t *h, double q) {
  if (!h->n) return 0;
  uint64_t want = (uint64_t)(q * (double)(h->n - 1)) + 1, seen = 0;
  for (uint64_t i = 0; i < HIST_US; i++) { seen += h->b[i]; if (seen >= want) return i; }
  return HIST_US;
}

/* ---------- setup: Allocate, ChannelBind ---------- */

static void build_request(alloc_t *a) {
  uint8_t *m = a->msg;
  for (int i = 0; i < 12; i++) a->tid[i] = (uint8_t)random();
  static const uint8_t udp[4] = { 17, 0, 0, 0 };
  int n;
  if (a->stage == S_BIND) {
    n = tw_begin(m, TW_CHANNEL_BIND, a->tid);
    uint8_t ch[4] = { CHANNEL >> 8, CHANNEL & 0xff, 0, 0 };
    n += tw_attr(m + n, TW_A_CHANNEL_NUMBER, ch, 4);
    n += tw_attr_xor_addr(m + n, TW_A_XOR_PEER_ADDRESS, &a->peer);
  } else {
    n = tw_begin(m, TW_ALLOCATE, a->tid);
    n += tw_attr(m + n, TW_A_REQUESTED_TRANSPORT, udp, 4);
  }
  /* Unauthenticated when no realm is known: a server that allocated without a challenge gets its ChannelBind so too. */
  if (a->stage == S_PROBE || realm_len < 0) { a->len = tw_finish(m, n, NULL); }
  else {
    n += tw_attr(m + n, TW_A_USERNAME, user, (int)strlen(user));
    n += tw_attr(m + n, TW_A_REALM, realm, realm_len);
    n += tw_attr(m + n, TW_A_NONCE, a->nonce, a->nonce_len);
    a->len = tw_finish(m, n, key);
  }
  a->tries = 0; a->rto = RTO0_NS;
}

static void transmit(alloc_t *a, uint64_t t) {
  a->tries++; a->sent_at = t; setup_requests++;
  if (a->tries > 1) setup_retransmits++;
  (void)send(a->cfd, a->msg, a->len, MSG_DONTWAIT); /* a failed send is a loss; the retransmit timer covers it */
}

static void fail(alloc_t *a, int code) {
  a->stage = S_FAILED; setup_failed++;
  if (code > 0 && code < 700) setup_errors[code]++; else setup_timeouts++;
}

static void setup_answer(alloc_t *a, const uint8_t *b, int len, uint64_t t) {
  tw_msg m;
  if (tw_parse(b, len, &m) || memcmp(m.tid, a->tid, 12)) return;
  unsigned want = a->stage == S_BIND ? TW_CHANNEL_BIND : TW_ALLOCATE;
  if (m.method != want) return;
  if (m.klass == TW_CLASS_ERROR) {
    if ((m.error_code == 401 || m.error_code == 438) && m.nonce && m.nonce_len <= (int)sizeof a->nonce && a->challenges < 4) {
      a->challenges++;
      if (m.realm && m.realm_len < (int)sizeof realm && (m.realm_len != realm_len || memcmp(m.realm, realm, m.realm_len))) {
        memcpy(realm, m.realm, m.realm_len); realm_len = m.realm_len;
        tw_long_term_key(user, realm, realm_len, password, key);
      }
      if (realm_len < 0) { fail(a, 0); return; }
      memcpy(a->nonce, m.nonce, m.nonce_len); a->nonce_len = m.nonce_len;
      if (a->stage == S_PROBE) a->stage = S_AUTH;
      build_request(a); transmit(a, t);
      return;
    }
    fail(a, m.error_code ? m.error_code : 699);
    return;
  }
  if (m.klass != TW_CLASS_SUCCESS) return;
  if (a->stage == S_BIND) { a->stage = S_READY; return; }
  if (!m.has_relayed) { fail(a, 699); return; }
  a->relayed = m.relayed;
  a->stage = S_BIND; build_request(a); transmit(a, t);
}

static double setup(const struct sockaddr_in *dst, const struct sockaddr_in *csrc, const struct sockaddr_in *psrc) {
  int ep = epoll_create1(0);
  for (int i = 0; i < nalloc; i++) {
    alloc_t *a = &A[i];
    a->cfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    a->pfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    socklen_t sl = sizeof a->peer;
    if (a->cfd < 0 || a->pfd < 0 || bind(a->cfd, (const struct sockaddr *)csrc, sizeof *csrc) < 0 ||
        connect(a->cfd, (const struct sockaddr *)dst, sizeof *dst) < 0 ||
        bind(a->pfd, (const struct sockaddr *)psrc, sizeof *psrc) < 0 || getsockname(a->pfd, (struct sockaddr *)&a->peer, &sl) < 0) {
      fprintf(stderr, "call_load: sockets for allocation %d of %d: %s (raise ulimit -n?)\n", i, nalloc, strerror(errno));
      exit(2);
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
    epoll_ctl(ep, EPOLL_CTL_ADD, a->cfd, &ev);
  }
  int *active = malloc(sizeof(int) * in_flight), nactive = 0, next = 0, finished = 0;
  struct epoll_event evs[256];
  uint8_t buf[BUFSZ];
  uint64_t start = now_ns(), last_scan = start, deadline = start + 120000000000ull;
  while (finished < nalloc) {
    uint64_t t = now_ns();
    while (next < nalloc && nactive < in_flight) {
      alloc_t *a = &A[next]; a->stage = S_PROBE; build_request(a); transmit(a, t);
      active[nactive++] = next++;
    }
    int n = epoll_wait(ep, evs, 256, 5);
    t = now_ns();
    for (int e = 0; e < n; e++) {
      alloc_t *a = &A[evs[e].data.u32];
      for (;;) {
        ssize_t got = recv(a->cfd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0) { if (errno == EINTR || errno == ECONNREFUSED) continue; break; }
        if (a->stage >= S_PROBE && a->stage <= S_BIND) setup_answer(a, buf, (int)got, t);
      }
    }
    int k = 0;
    for (int i = 0; i < nactive; i++) {
      alloc_t *a = &A[active[i]];
      if (a->stage == S_READY || a->stage == S_FAILED) finished++; else active[k++] = active[i];
    }
    nactive = k;
    if (t - last_scan > 10000000ull) { /* retransmissions, every 10 ms */
      last_scan = t;
      for (int i = 0; i < nactive; i++) {
        alloc_t *a = &A[active[i]];
        if (t - a->sent_at < a->rto) continue;
        if (a->tries >= MAXTRIES) { fail(a, 0); continue; }
        a->rto *= 2; transmit(a, t);
      }
    }
    if (t > deadline) {
      for (int i = 0; i < nactive; i++) fail(&A[active[i]], 0);
      for (; next < nalloc; next++) fail(&A[next], 0);
      break;
    }
  }
  close(ep);
  free(active);
  return (now_ns() - start) / 1e9;
}

/* ---------- load ---------- */

/* ChannelData with the tag; the filler after the tag was written once. */
static int build_data(uint8_t *m, int a, uint32_t seq, uint32_t slot, uint64_t t) {
  tw_channel_data(m, CHANNEL, (unsigned)payload);
  tag_t tg = { TAG_MAGIC, (uint32_t)a, seq, slot, t, 0 };
  memcpy(m + 4, &tg, sizeof tg);
  return 4 + payload;
}

static void count_send(uint64_t t, uint64_t sched) {
  add(&sent_total, 1);
  if (in_window(t)) { add(&sent_win, 1); if (sched) hist_add(&h_lag, t > sched ? t - sched : 0); }
}

static void closed_send(int a, int w, uint8_t *m, uint64_t t) {
  slot_t *sl = &A[a].slots[w];
  sl->seq++; sl->sent_at = t;
  int n = build_data(m, a, sl->seq, (uint32_t)w, t);
  if (send(A[a].cfd, m, n, MSG_DONTWAIT) == n) count_send(t, 0); else add(&send_errors, 1);
}

/* Client socket of allocation a is readable: ChannelData answers; in closed loop, refill the answered slots. */
static void client_read(int a, uint8_t (*rb)[BUFSZ], uint8_t (*sb)[BUFSZ]) {
  struct mmsghdr rm[BATCH], sm[BATCH]; struct iovec ri[BATCH], si[BATCH];
  for (int i = 0; i < BATCH; i++) {
    ri[i].iov_base = rb[i]; ri[i].iov_len = BUFSZ;
    memset(&rm[i], 0, sizeof rm[i]); rm[i].msg_hdr.msg_iov = &ri[i]; rm[i].msg_hdr.msg_iovlen = 1;
  }
  int got = recvmmsg(A[a].cfd, rm, BATCH, MSG_DONTWAIT, NULL);
  if (got <= 0) return;
  uint64_t t = now_ns();
  int k = 0;
  for (int i = 0; i < got; i++) {
    const uint8_t *b = rb[i]; unsigned len = rm[i].msg_len;
    if (len < 4 + sizeof(tag_t) || tw_get16(b) != CHANNEL || tw_get16(b + 2) != (unsigned)payload || len < 4u + payload) {
      add(&bad_client, 1); continue;
    }
    tag_t tg; memcpy(&tg, b + 4, sizeof tg);
    if (tg.magic != TAG_MAGIC || tg.alloc != (uint32_t)a) { add(&bad_client, 1); continue; }
    add(&client_rx_total, 1);
    A[a].answered++;
    if (in_window(tg.t_client)) {
      add(&client_rx_win, 1);
      hist_add(&h_rt, t - tg.t_client);
      hist_add(&h_p2c, t > tg.t_peer ? t - tg.t_peer : 0);
    }
    if (window && t < t_send_end && tg.slot < (uint32_t)window && A[a].slots[tg.slot].seq == tg.seq) {
      slot_t *sl = &A[a].slots[tg.slot];
      sl->seq++; sl->sent_at = t;
      si[k].iov_base = sb[k]; si[k].iov_len = build_data(sb[k], a, sl->seq, tg.slot, t);
      memset(&sm[k], 0, sizeof sm[k]); sm[k].msg_hdr.msg_iov = &si[k]; sm[k].msg_hdr.msg_iovlen = 1;
      k++;
    }
  }
  int off = 0;
  while (off < k) {
    int n = sendmmsg(A[a].cfd, sm + off, k - off, 0);
    if (n <= 0) { add(&send_errors, k - off); break; }
    for (int i = 0; i < n; i++) count_send(t, 0);
    off += n;
  }
}

static void *client_thread(void *arg) {
  (void)arg;
  int ep = epoll_create1(0);
  for (int r = 0; r < nready; r++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)ready[r] };
    epoll_ctl(ep, EPOLL_CTL_ADD, A[ready[r]].cfd, &ev);
  }
  static uint8_t rb[BATCH][BUFSZ], sb[BATCH][BUFSZ], one[BUFSZ];
  for (int i = 0; i < BATCH; i++) memset(sb[i], 0xA5, BUFSZ);
  memset(one, 0xA5, BUFSZ);
  struct epoll_event evs[256];
  double period = 1e9 / ((double)nready * rate); /* ns between two packets of the whole schedule */
  uint64_t j = 0, last_scan = 0, tick = (uint64_t)tick_us * 1000;
  sleep_until(t0);
  if (window) {
    uint64_t t = now_ns();
    for (int r = 0; r < nready; r++) for (int w = 0; w < window; w++) closed_send(ready[r], w, one, t);
    last_scan = t;
  }
  for (;;) {
    uint64_t t = now_ns();
    if (t >= t_drain_end) break;
    uint64_t wake = t + 10000000ull;
    if (!window && t < t_send_end) {
      for (int budget = 512; budget > 0; budget--) {
        uint64_t sched = t0 + (uint64_t)((double)j * period);
        if (sched > t || sched >= t_send_end) break;
        int a = ready[j % nready];
        uint64_t ts = now_ns();
        int n = build_data(one, a, (uint32_t)(j / nready), 0, ts);
        if (send(A[a].cfd, one, n, MSG_DONTWAIT) == n) count_send(ts, sched); else add(&send_errors, 1);
        j++;
      }
      uint64_t sched = t0 + (uint64_t)((double)j * period);
      wake = sched > t + tick ? sched : t + tick;
    }
    if (window && t < t_send_end) {
      if (t - last_scan > 50000000ull) { /* closed loop: resend what has been unanswered for 200 ms */
        last_scan = t;
        for (int r = 0; r < nready; r++) for (int w = 0; w < window; w++) {
          slot_t *sl = &A[ready[r]].slots[w];
          if (t - sl->sent_at > CLOSED_TIMEOUT_NS) { add(&closed_timeouts, 1); closed_send(ready[r], w, one, t); }
        }
      }
      wake = t + 10000000ull;
    }
    if (wake > t_drain_end) wake = t_drain_end;
    uint64_t now = now_ns(), left = wake > now ? wake - now : 0;
    struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
    int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
    for (int e = 0; e < n; e++) client_read((int)evs[e].data.u32, rb, sb);
  }
  close(ep);
  return NULL;
}

static void *peer_thread(void *arg) {
  (void)arg;
  int ep = epoll_create1(0);
  for (int r = 0; r < nready; r++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)ready[r] };
    epoll_ctl(ep, EPOLL_CTL_ADD, A[ready[r]].pfd, &ev);
  }
  static uint8_t rb[BATCH][BUFSZ];
  static struct sockaddr_in names[BATCH];
  struct mmsghdr mm[BATCH]; struct iovec io[BATCH];
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    if (t >= t_drain_end) break;
    int n = epoll_wait(ep, evs, 256, 10);
    for (int e = 0; e < n; e++) {
      int a = (int)evs[e].data.u32;
      for (int i = 0; i < BATCH; i++) {
        io[i].iov_base = rb[i]; io[i].iov_len = BUFSZ; memset(&mm[i], 0, sizeof mm[i]);
        mm[i].msg_hdr.msg_iov = &io[i]; mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_name = &names[i]; mm[i].msg_hdr.msg_namelen = sizeof names[i];
      }
      int got = recvmmsg(A[a].pfd, mm, BATCH, MSG_DONTWAIT, NULL);
      if (got <= 0) continue;
      t = now_ns();
      int k = 0;
      for (int i = 0; i < got; i++) {
        unsigned len = mm[i].msg_len;
        tag_t tg;
        if (len != (unsigned)payload) { add(&bad_peer, 1); continue; }
        memcpy(&tg, rb[i], sizeof tg);
        if (tg.magic != TAG_MAGIC || tg.alloc != (uint32_t)a) { add(&bad_peer, 1); continue; }
        add(&peer_rx_total, 1);
        if (in_window(tg.t_client)) { add(&peer_rx_win, 1); hist_add(&h_c2p, t > tg.t_client ? t - tg.t_client : 0); }
        tg.t_peer = t;
        memcpy(rb[i], &tg, sizeof tg);
        if (k != i) { mm[k] = mm[i]; io[k] = io[i]; mm[k].msg_hdr.msg_iov = &io[k]; }
        io[k].iov_len = len;
        k++;
      }
      int off = 0;
      while (off < k) {
        int s = sendmmsg(A[a].pfd, mm + off, k - off, 0);
        if (s <= 0) { add(&echo_errors, k - off); break; }
        off += s;
      }
    }
  }
  close(ep);
  return NULL;
}

/* ---------- /proc readings ---------- */

typedef struct { uint64_t utime, stime; } proc_cpu_t;
static long clk_tck;

static int read_proc_cpu(int pid, proc_cpu_t *out) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f); fclose(f); buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long long u = 0, s = 0;
  /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &s) != 2) return -1;
  out->utime = u; out->stime = s;
  return 0;
}

static long read_status(int pid, const char *key) {
  char path[64], line[256]; size_t kl = strlen(key);
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  while (fgets(line, sizeof line, f)) if (!strncmp(line, key, kl) && line[kl] == ':') { v = atol(line + kl + 1); break; }
  fclose(f);
  return v;
}

/* CPU ticks the whole machine spent busy (not idle, not iowait), and of those, in hard and soft interrupts. With
 * IRQ time accounting (as here) loopback delivery and a tc BPF program run in softirq and are charged to no process,
 * so a relay's cost is its process CPU plus the machine's softirq time. */
static uint64_t machine_busy_ticks(uint64_t *interrupts) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  unsigned long long v[8] = {0};
  if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4) v[0] = 0;
  fclose(f);
  *interrupts = v[5] + v[6];
  return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

/* Datagrams the kernel dropped for want of receive buffer, summed over the UDP sockets bound to the generator's
 * addresses (gen) and to the server's address (srv), from the drops column of /proc/net/udp. */
static struct in_addr gen_ip1, gen_ip2, server_ip;
static void udp_drops(uint64_t *gen, uint64_t *srv) {
  *gen = *srv = 0;
  FILE *f = fopen("/proc/net/udp", "r");
  if (!f) return;
  char line[512];
  if (!fgets(line, sizeof line, f)) { fclose(f); return; }
  while (fgets(line, sizeof line, f)) {
    /* sl: local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops */
    unsigned ip; unsigned long long d;
    if (sscanf(line, " %*d: %x:%*x %*x:%*x %*x %*x:%*x %*x:%*x %*x %*u %*u %*u %*d %*s %llu", &ip, &d) != 2) continue;
    if (ip == gen_ip1.s_addr || ip == gen_ip2.s_addr) *gen += d; else if (ip == server_ip.s_addr) *srv += d;
  }
  fclose(f);
}

/* The CPU time the kernel's BPF statistics charge to programs called `name` (BPF_OBJ_NAME_LEN keeps 15
 * characters of it), and how often they ran: the fast path's own cost, which runs in softirq and belongs to no
 * process. 0 when found, -1 otherwise. */
static const char *bpf_program;
static int bpf_stats_fd = -1;
static long bpf_call(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof *a); }
static int bpf_program_time(uint64_t *ns, uint64_t *runs) {
  *ns = *runs = 0;
  int found = -1;
  union bpf_attr a;
  uint32_t id = 0;
  for (;;) {
    memset(&a, 0, sizeof a); a.start_id = id;
    if (bpf_call(BPF_PROG_GET_NEXT_ID, &a) != 0) break;
    id = a.next_id;
    memset(&a, 0, sizeof a); a.prog_id = id;
    int fd = (int)bpf_call(BPF_PROG_GET_FD_BY_ID, &a);
    if (fd < 0) continue;
    struct bpf_prog_info info; memset(&info, 0, sizeof info);
    memset(&a, 0, sizeof a);
    a.info.bpf_fd = (uint32_t)fd; a.info.info_len = sizeof info; a.info.info = (uint64_t)(uintptr_t)&info;
    if (bpf_call(BPF_OBJ_GET_INFO_BY_FD, &a) == 0 && !strncmp(info.name, bpf_program, sizeof info.name - 1)) {
      *ns += info.run_time_ns; *runs += info.run_cnt; found = 0;
    }
    close(fd);
  }
  return found;
}

typedef struct {
  uint64_t t, gen_cpu, client_cpu, peer_cpu, sent, peer_rx, client_rx, busy, interrupts, gen_drops, srv_drops;
  uint64_t bpf_ns, bpf_runs; int bpf_ok;
  proc_cpu_t server;
} snap_t;

static clockid_t client_clock, peer_clock;

static void snapshot(snap_t *s) {
  s->t = now_ns();
  s->gen_cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  s->client_cpu = clock_ns(client_clock);
  s->peer_cpu = clock_ns(peer_clock);
  s->sent = get(&sent_total); s->peer_rx = get(&peer_rx_total); s->client_rx = get(&client_rx_total);
  s->busy = machine_busy_ticks(&s->interrupts);
  udp_drops(&s->gen_drops, &s->srv_drops);
  memset(&s->server, 0, sizeof s->server);
  if (server_pid) read_proc_cpu(server_pid, &s->server);
  s->bpf_ok = bpf_program && bpf_stats_fd >= 0 && bpf_program_time(&s->bpf_ns, &s->bpf_runs) == 0;
}

static void usage(const char *me) {
  fprintf(stderr, "usage: %s HOST PORT USER PASSWORD [--allocations N] [--rate PPS | --closed WINDOW] [--payload B] "
                  "[--warmup S] [--seconds S] [--server-pid PID] [--in-flight N] [--client-ip IP] [--peer-ip IP] [--tick-us US] [--bpf-program NAME]\n", me);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 5) usage(argv[0]);
  struct sockaddr_in dst = {0}, csrc = {0}, psrc = {0};
  dst.sin_family = csrc.sin_family = psrc.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)atoi(argv[2]));
  user = argv[3]; password = argv[4];
  const char *cip = "127.0.0.2", *pip = "127.0.0.3";
  for (int i = 5; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage(argv[0]);
    if (!strcmp(o, "--allocations")) nalloc = atoi(v);
    else if (!strcmp(o, "--rate")) rate = atof(v);
    else if (!strcmp(o, "--closed")) window = atoi(v);
    else if (!strcmp(o, "--payload")) payload = atoi(v);
    else if (!strcmp(o, "--warmup")) warmup = atof(v);
    else if (!strcmp(o, "--seconds")) seconds = atof(v);
    else if (!strcmp(o, "--server-pid")) server_pid = atoi(v);
    else if (!strcmp(o, "--bpf-program")) bpf_program = v;
    else if (!strcmp(o, "--in-flight")) in_flight = atoi(v);
    else if (!strcmp(o, "--client-ip")) cip = v;
    else if (!strcmp(o, "--peer-ip")) pip = v;
    else if (!strcmp(o, "--tick-us")) tick_us = atoi(v);
    else usage(argv[0]);
    i++;
  }
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || inet_pton(AF_INET, cip, &csrc.sin_addr) != 1 ||
      inet_pton(AF_INET, pip, &psrc.sin_addr) != 1) { fprintf(stderr, "call_load: bad IPv4 address\n"); return 2; }
  gen_ip1 = csrc.sin_addr; gen_ip2 = psrc.sin_addr; server_ip = dst.sin_addr;
  if (nalloc < 1 || in_flight < 1 || payload < (int)sizeof(tag_t) || payload > BUFSZ - 4 || seconds <= 0 || warmup < 0 ||
      (!window && rate <= 0) || window < 0 || tick_us < 1) {
    fprintf(stderr, "call_load: bad option value (payload %zu..%d)\n", sizeof(tag_t), BUFSZ - 4); return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  clk_tck = sysconf(_SC_CLK_TCK);
  srandom((unsigned)now_ns());
  A = calloc(nalloc, sizeof *A);
  double setup_s = setup(&dst, &csrc, &psrc);
  ready = malloc(sizeof(int) * nalloc);
  for (int i = 0; i < nalloc; i++) if (A[i].stage == S_READY) {
    ready[nready++] = i;
    if (window) A[i].slots = calloc(window, sizeof(slot_t));
  }
  printf("allocations=%d ready=%d setup_s=%.2f setup_requests=%llu setup_retransmits=%llu setup_failed=%llu setup_errors=",
         nalloc, nready, setup_s, (unsigned long long)setup_requests, (unsigned long long)setup_retransmits,
         (unsigned long long)setup_failed);
  int any = 0;
  if (setup_timeouts) { printf("timeout:%llu", (unsigned long long)setup_timeouts); any = 1; }
  for (int c = 1; c < 700; c++) if (setup_errors[c]) { printf("%s%d:%llu", any ? "," : "", c, (unsigned long long)setup_errors[c]); any = 1; }
  if (!any) printf("none");
  if (!nready) { printf("\n"); return 3; }

  hist_init(&h_c2p); hist_init(&h_p2c); hist_init(&h_rt); hist_init(&h_lag);
  t0 = now_ns() + 20000000ull;
  t_ms = t0 + (uint64_t)(warmup * 1e9);
  t_me = t_ms + (uint64_t)(seconds * 1e9);
  t_send_end = t_me;
  t_drain_end = t_me + DRAIN_NS;
  pthread_t ct, pt;
  pthread_create(&pt, NULL, peer_thread, NULL);
  pthread_create(&ct, NULL, client_thread, NULL);
  pthread_getcpuclockid(ct, &client_clock);
  pthread_getcpuclockid(pt, &peer_clock);
  if (bpf_program) {
    /* Held open for the run: the kernel keeps run-time statistics while any such descriptor is open. */
    union bpf_attr a; memset(&a, 0, sizeof a);
    a.enable_stats.type = BPF_STATS_RUN_TIME;
    bpf_stats_fd = (int)bpf_call(BPF_ENABLE_STATS, &a);
    if (bpf_stats_fd < 0) fprintf(stderr, "call_load: BPF run-time statistics unavailable: %s\n", strerror(errno));
  }
  snap_t s0, s1;
  sleep_until(t_ms); snapshot(&s0);
  sleep_until(t_me); snapshot(&s1);
  long rss = server_pid ? read_status(server_pid, "VmRSS") : -1, threads = server_pid ? read_status(server_pid, "Threads") : -1;
  pthread_join(ct, NULL);
  pthread_join(pt, NULL);
  snap_t s2; /* after the drain: drops of packets sent in the window may happen up to its end */
  udp_drops(&s2.gen_drops, &s2.srv_drops);

  double el = (s1.t - s0.t) / 1e9;
  uint64_t relayed = (s1.peer_rx - s0.peer_rx) + (s1.client_rx - s0.client_rx);
  double scpu = (double)((s1.server.utime + s1.server.stime) - (s0.server.utime + s0.server.stime)) / clk_tck;
  double suser = (double)(s1.server.utime - s0.server.utime) / clk_tck, ssys = (double)(s1.server.stime - s0.server.stime) / clk_tck;
  double gcpu = (s1.gen_cpu - s0.gen_cpu) / 1e9;
  double busy = (double)(s1.busy - s0.busy) / clk_tck;
  double per = relayed ? 1e6 / relayed : 0;
  int silent = 0;
  for (int r = 0; r < nready; r++) if (!A[ready[r]].answered) silent++;
  double offered = window ? 0 : nready * rate;
  printf(" mode=%s payload=%d offered_pps=%.0f sent_pps=%.0f relayed_pps=%.0f"
         " c2p_p50_us=%llu c2p_p99_us=%llu c2p_max_us=%llu p2c_p50_us=%llu p2c_p99_us=%llu p2c_max_us=%llu"
         " rt_p50_us=%llu rt_p99_us=%llu rt_max_us=%llu"
         " loss_c2p_pct=%.4f loss_p2c_pct=%.4f loss_rt_pct=%.4f",
         window ? "closed" : "open", payload, offered, (s1.sent - s0.sent) / el, relayed / el,
         (unsigned long long)hist_q(&h_c2p, 0.5), (unsigned long long)hist_q(&h_c2p, 0.99), (unsigned long long)h_c2p.max,
         (unsigned long long)hist_q(&h_p2c, 0.5), (unsigned long long)hist_q(&h_p2c, 0.99), (unsigned long long)h_p2c.max,
         (unsigned long long)hist_q(&h_rt, 0.5), (unsigned long long)hist_q(&h_rt, 0.99), (unsigned long long)h_rt.max,
         sent_win ? 100.0 * (1.0 - (double)peer_rx_win / sent_win) : 0.0,
         peer_rx_win ? 100.0 * (1.0 - (double)client_rx_win / peer_rx_win) : 0.0,
         sent_win ? 100.0 * (1.0 - (double)client_rx_win / sent_win) : 0.0);
  printf(" sent_in_window=%llu peer_received=%llu client_received=%llu send_errors=%llu echo_errors=%llu bad=%llu"
         " closed_timeouts=%llu silent_allocations=%d generator_socket_drops=%llu server_socket_drops=%llu",
         (unsigned long long)sent_win, (unsigned long long)peer_rx_win, (unsigned long long)client_rx_win,
         (unsigned long long)send_errors, (unsigned long long)echo_errors, (unsigned long long)(bad_client + bad_peer),
         (unsigned long long)closed_timeouts, silent, (unsigned long long)(s2.gen_drops - s0.gen_drops),
         (unsigned long long)(s2.srv_drops - s0.srv_drops));
  if (!window)
    printf(" send_lag_p50_us=%llu send_lag_p99_us=%llu send_lag_max_us=%llu",
           (unsigned long long)hist_q(&h_lag, 0.5), (unsigned long long)hist_q(&h_lag, 0.99), (unsigned long long)h_lag.max);
  printf(" generator_cpu_cores=%.3f generator_client_thread_cores=%.3f generator_peer_thread_cores=%.3f",
         gcpu / el, (s1.client_cpu - s0.client_cpu) / 1e9 / el, (s1.peer_cpu - s0.peer_cpu) / 1e9 / el);
  if (server_pid)
    printf(" server_cpu_us_per_packet=%.3f server_user_us_per_packet=%.3f server_sys_us_per_packet=%.3f"
           " server_cpu_cores=%.3f server_user_cores=%.3f server_cpu_ticks=%llu server_rss_kib=%ld server_threads=%ld",
           scpu * per, suser * per, ssys * per, scpu / el, suser / el,
           (unsigned long long)((s1.server.utime + s1.server.stime) - (s0.server.utime + s0.server.stime)), rss, threads);
  double interrupts = (double)(s1.interrupts - s0.interrupts) / clk_tck;
  double other = busy - gcpu - (server_pid ? scpu : 0) - interrupts;
  printf(" softirq_cpu_cores=%.3f relay_cpu_us_per_packet=%.3f", interrupts / el, (scpu + interrupts) * per);
  if (s0.bpf_ok && s1.bpf_ok)
    printf(" bpf_us_per_packet=%.3f bpf_runs_per_packet=%.3f", (s1.bpf_ns - s0.bpf_ns) / 1e3 * (relayed ? 1.0 / relayed : 0),
           relayed ? (double)(s1.bpf_runs - s0.bpf_runs) / relayed : 0);
  else
    printf(" bpf_us_per_packet=%.3f bpf_runs_per_packet=%.3f", bpf_program ? -1.0 : 0.0, bpf_program ? -1.0 : 0.0);
  printf(" other_cpu_cores=%.3f elapsed_s=%.3f\n", (other > 0 ? other : 0) / el, el);
  return client_rx_total ? 0 : 1;
}
