/* relay_flood: saturating TURN ChannelData round trips over UDP, for side-by-side server comparisons.
 * Build: gcc -O2 -o relay_flood relay_flood.c
 * Use:   relay_flood SECONDS WINDOW PAYLOAD CLIENTFD:PEERFD:CHANNEL [...]
 * The fds are inherited, already set up by Benchmarks/turn_control.py: CLIENTFD is a UDP socket connected to the
 * TURN server that owns an allocation with CHANNEL bound to PEERFD's address; PEERFD is an unconnected UDP socket.
 * Each client keeps WINDOW ChannelData messages (PAYLOAD bytes each, carrying client/slot/seq/timestamp) in flight;
 * the server relays each payload to the peer socket, which echoes it to its source (the relayed address); the server
 * wraps it back as ChannelData to the client, which records the round trip. One thread, poll + recvmmsg/sendmmsg
 * batches. Messages unanswered after 200 ms count as lost and are resent on a new sequence number.
 * Before the clock starts every allocation must round-trip one probe, or the tool exits with status 3.
 * Prints: round_trips_per_s, p50/p99/max latency (us), lost, late, sent, generator CPU seconds, elapsed seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256
#define NB 64
#define BUFSZ 2048
#define MAGIC 0x52464C44u /* "RFLD" */

typedef struct { uint64_t sent_at; uint32_t seq; } slot_t;
typedef struct { int cfd, pfd; uint16_t channel; slot_t *slots; } client_t;
/* Payload header after the 4-byte ChannelData header: magic, client, slot, seq, timestamp (ns). */
typedef struct __attribute__((packed)) { uint32_t magic, client, slot, seq; uint64_t ts; } tag_t;

static client_t cl[MAXC];
static int nclient, window, payload;
static uint64_t seqno = 1, ok, lost, late, sent, bad;
static uint32_t *lat; static size_t nlat, cap = 1 << 23;
static uint8_t rbuf[NB][BUFSZ], sbuf[NB][BUFSZ];
static struct sockaddr_in names[NB];

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static int cmp_u32(const void *a, const void *b) { uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b; return x < y ? -1 : x > y; }

/* Writes one ChannelData message for client c, slot w into m; returns its length. */
static int build(uint8_t *m, int c, int w, uint32_t seq, uint64_t ts) {
  uint16_t ch = cl[c].channel;
  m[0] = ch >> 8; m[1] = ch & 0xff; m[2] = (uint8_t)(payload >> 8); m[3] = payload & 0xff;
  tag_t t = { MAGIC, (uint32_t)c, (uint32_t)w, seq, ts };
  memcpy(m + 4, &t, sizeof t);
  memset(m + 4 + sizeof t, 0xA5, payload - sizeof t);
  return 4 + payload;
}

static void send_slot(int c, int w, uint64_t t) {
  slot_t *sl = &cl[c].slots[w];
  sl->seq = (uint32_t)seqno++; sl->sent_at = t;
  uint8_t m[BUFSZ]; int n = build(m, c, w, sl->seq, t);
  if (send(cl[c].cfd, m, n, 0) == n) sent++;
}

/* Checks one datagram the client socket received; on a valid answer returns the slot index, else -1. */
static int accept_answer(int c, const uint8_t *b, unsigned len, uint64_t t) {
  if (len < 4 + sizeof(tag_t)) { bad++; return -1; }
  unsigned ch = (b[0] << 8) | b[1], plen = (b[2] << 8) | b[3];
  if (ch != cl[c].channel || plen != (unsigned)payload || len < 4 + plen) { bad++; return -1; }
  tag_t tg; memcpy(&tg, b + 4, sizeof tg);
  if (tg.magic != MAGIC || tg.client != (uint32_t)c || tg.slot >= (uint32_t)window) { bad++; return -1; }
  slot_t *sl = &cl[c].slots[tg.slot];
  if (sl->seq != tg.seq) { late++; return -1; } /* answered after it was counted lost */
  if (nlat < cap) lat[nlat++] = (uint32_t)((t - tg.ts) / 1000);
  return (int)tg.slot;
}

/* Peer side: echo every datagram to its source address (the relayed transport address). */
static void echo(int pfd) {
  struct mmsghdr mm[NB]; struct iovec io[NB];
  {
    for (int i = 0; i < NB; i++) {
      io[i].iov_base = rbuf[i]; io[i].iov_len = BUFSZ; memset(&mm[i], 0, sizeof mm[i]);
      mm[i].msg_hdr.msg_iov = &io[i]; mm[i].msg_hdr.msg_iovlen = 1;
      mm[i].msg_hdr.msg_name = &names[i]; mm[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    int got = recvmmsg(pfd, mm, NB, MSG_DONTWAIT, NULL);
    if (got <= 0) return;
    for (int i = 0; i < got; i++) io[i].iov_len = mm[i].msg_len; /* same buffers and names, back out */
    int off = 0;
    while (off < got) { int n = sendmmsg(pfd, mm + off, got - off, 0); if (n <= 0) break; off += n; }
    /* One batch per socket per poll round (poll is level-triggered): looping while batches came back full let a
     * server that answers a whole window at once (UDP GSO) keep one socket busy and starve the others. */
  }
}

/* Client side: take answers, record latency, refill the freed slots in one sendmmsg. */
static void receive(int c, int counting) {
  struct mmsghdr rm[NB], sm[NB]; struct iovec ri[NB], si[NB];
  {
    for (int i = 0; i < NB; i++) {
      ri[i].iov_base = rbuf[i]; ri[i].iov_len = BUFSZ; memset(&rm[i], 0, sizeof rm[i]);
      rm[i].msg_hdr.msg_iov = &ri[i]; rm[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(cl[c].cfd, rm, NB, MSG_DONTWAIT, NULL);
    if (got <= 0) return;
    uint64_t t = now_ns(); int k = 0;
    for (int i = 0; i < got; i++) {
      int w = accept_answer(c, rbuf[i], rm[i].msg_len, t);
      if (w < 0) continue;
      if (counting) ok++;
      slot_t *sl = &cl[c].slots[w]; sl->seq = (uint32_t)seqno++; sl->sent_at = t;
      si[k].iov_base = sbuf[k]; si[k].iov_len = build(sbuf[k], c, w, sl->seq, t);
      memset(&sm[k], 0, sizeof sm[k]); sm[k].msg_hdr.msg_iov = &si[k]; sm[k].msg_hdr.msg_iovlen = 1; k++;
    }
    int off = 0;
    while (off < k) { int n = sendmmsg(cl[c].cfd, sm + off, k - off, 0); if (n <= 0) break; off += n; }
    sent += off;
    /* One batch per socket per poll round (poll is level-triggered): looping while batches came back full let a
     * server that answers a whole window at once (UDP GSO) keep one socket busy and starve the others. */
  }
}

/* One probe per allocation must come back through the relay before anything is measured. */
static int verify(void) {
  for (int attempt = 0; attempt < 5; attempt++) {
    int missing = 0;
    for (int c = 0; c < nclient; c++) if (cl[c].slots[0].sent_at != 1) { send_slot(c, 0, now_ns()); missing++; }
    if (!missing) return 0;
    struct pollfd pfd[2 * MAXC];
    uint64_t until = now_ns() + 500000000ull;
    while (now_ns() < until) {
      for (int c = 0; c < nclient; c++) { pfd[2 * c] = (struct pollfd){ cl[c].cfd, POLLIN, 0 }; pfd[2 * c + 1] = (struct pollfd){ cl[c].pfd, POLLIN, 0 }; }
      if (poll(pfd, 2 * nclient, 50) <= 0) continue;
      for (int c = 0; c < nclient; c++) {
        if (pfd[2 * c + 1].revents & POLLIN) echo(cl[c].pfd);
        if (!(pfd[2 * c].revents & POLLIN)) continue;
        for (;;) {
          uint8_t b[BUFSZ]; ssize_t n = recv(cl[c].cfd, b, sizeof b, MSG_DONTWAIT);
          if (n < 0) break;
          if (accept_answer(c, b, (unsigned)n, now_ns()) == 0) cl[c].slots[0].sent_at = 1; /* marks "verified" */
        }
      }
      int all = 1; for (int c = 0; c < nclient; c++) if (cl[c].slots[0].sent_at != 1) all = 0;
      if (all) return 0;
    }
  }
  for (int c = 0; c < nclient; c++) if (cl[c].slots[0].sent_at != 1)
    fprintf(stderr, "relay_flood: allocation %d (client fd %d, peer fd %d, channel 0x%04x): probe never came back through the relay\n",
            c, cl[c].cfd, cl[c].pfd, cl[c].channel);
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: %s SECONDS WINDOW PAYLOAD CLIENTFD:PEERFD:CHANNEL [...]\n", argv[0]); return 2; }
  double secs = atof(argv[1]); window = atoi(argv[2]); payload = atoi(argv[3]); nclient = argc - 4;
  if (window < 1 || window > 4096 || nclient > MAXC || payload < (int)sizeof(tag_t) || payload > BUFSZ - 4) {
    fprintf(stderr, "relay_flood: bad window, payload (%zu..%d) or too many allocations\n", sizeof(tag_t), BUFSZ - 4); return 2;
  }
  for (int c = 0; c < nclient; c++) {
    unsigned ch;
    if (sscanf(argv[4 + c], "%d:%d:%x", &cl[c].cfd, &cl[c].pfd, &ch) != 3 || ch < 0x4000 || ch > 0x7FFF) {
      fprintf(stderr, "relay_flood: bad triple '%s' (want CLIENTFD:PEERFD:CHANNEL, channel in hex)\n", argv[4 + c]); return 2;
    }
    cl[c].channel = (uint16_t)ch;
    cl[c].slots = calloc(window, sizeof(slot_t));
  }
  lat = malloc(cap * sizeof(uint32_t));
  if (verify() != 0) return 3;
  nlat = 0; sent = 0; late = 0; bad = 0;

  uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9), last_scan = start;
  for (int c = 0; c < nclient; c++) for (int w = 0; w < window; w++) send_slot(c, w, now_ns());
  struct pollfd pfd[2 * MAXC];
  for (int c = 0; c < nclient; c++) { pfd[2 * c] = (struct pollfd){ cl[c].cfd, POLLIN, 0 }; pfd[2 * c + 1] = (struct pollfd){ cl[c].pfd, POLLIN, 0 }; }
  while (1) {
    uint64_t t = now_ns(); if (t >= end) break;
    int n = poll(pfd, 2 * nclient, 10);
    if (n > 0) for (int c = 0; c < nclient; c++) {
      if (pfd[2 * c + 1].revents & POLLIN) echo(cl[c].pfd);
      if (pfd[2 * c].revents & POLLIN) receive(c, 1);
    }
    t = now_ns();
    if (t - last_scan > 50000000ull) { /* resend messages unanswered for 200 ms */
      last_scan = t;
      for (int c = 0; c < nclient; c++) for (int w = 0; w < window; w++)
        if (t - cl[c].slots[w].sent_at > 200000000ull) { lost++; send_slot(c, w, t); }
    }
  }
  double el = (now_ns() - start) / 1e9;
  qsort(lat, nlat, sizeof(uint32_t), cmp_u32);
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  printf("round_trips_per_s=%.0f p50_us=%u p99_us=%u max_us=%u lost=%llu late=%llu bad=%llu sent=%llu round_trips=%llu "
         "generator_cpu_s=%.2f elapsed_s=%.2f\n",
         ok / el, nlat ? lat[nlat / 2] : 0, nlat ? lat[(size_t)(nlat * 0.99)] : 0, nlat ? lat[nlat - 1] : 0,
         (unsigned long long)lost, (unsigned long long)late, (unsigned long long)bad, (unsigned long long)sent,
         (unsigned long long)ok, cpu, el);
  return ok ? 0 : 1;
}
