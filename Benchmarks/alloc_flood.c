/* alloc_flood: authenticated TURN Allocates as fast as the server answers them, for side-by-side comparisons.
 * Build: gcc -O2 -o alloc_flood alloc_flood.c -lcrypto   (libcrypto only for MD5 and HMAC-SHA1; turn_wire.h beside it)
 * Use:   alloc_flood HOST PORT COUNT IN_FLIGHT USER PASSWORD [LOCAL_IP=127.0.0.2]
 * Makes COUNT allocations, each on its own UDP client socket (bound on LOCAL_IP, connected to the server; all
 * sockets are opened before the clock starts), keeping at most IN_FLIGHT allocations under way at once:
 *   Allocate (REQUESTED-TRANSPORT=UDP, FINGERPRINT) -> 401 with REALM and NONCE ->
 *   Allocate with USERNAME, REALM, NONCE, REQUESTED-TRANSPORT, MESSAGE-INTEGRITY (HMAC-SHA1, key
 *   MD5(user:realm:password)) and FINGERPRINT -> success with XOR-RELAYED-ADDRESS.
 * Same messages as Benchmarks/turn_control.py, built and parsed with turn_wire.h. A 438 (stale nonce) is answered with the new nonce, at most 4 times.
 * Requests unanswered are resent with the same transaction ID after 200 ms, doubling, 6 tries in all; then the
 * allocation counts as failed. Only successes are counted. The sockets (and so the allocations) stay open until
 * the tool exits; the caller restarts the server between runs.
 * Prints: allocations_per_s (successes / time from first request to last answer), ok, failed, requests,
 * retransmits, first_half_per_s and second_half_per_s (rate over the first and the second COUNT/2 successes),
 * latency p50/p99/max (us, first request to success of one allocation), error codes, generator CPU seconds
 * (measured part only) and elapsed seconds. Exit 0 when every allocation succeeded, 1 otherwise. */
#define _GNU_SOURCE
#define TW_CRYPTO
#include "turn_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXTRIES 6
#define RTO0_NS 200000000ull

enum { IDLE, PROBE, AUTH, DONE, FAILED };
typedef struct {
  int fd, stage, tries, challenges;
  uint8_t tid[12];
  uint64_t started, sent_at, rto;
  uint8_t msg[512]; int len;
} sess_t;

static sess_t *S;
static int count, in_flight;
static const char *user, *password;
static uint8_t realm[256], nonce[256], key[16]; static int realm_len = -1, nonce_len;
static uint64_t requests, retransmits, ok, failed, challenges438, errors[700], other_errors;
static uint32_t *lat;

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static int cmp_u32(const void *a, const void *b) { uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b; return x < y ? -1 : x > y; }
static double cpu_now(void) {
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A fresh transaction for session s in its current stage: probe Allocate or authenticated Allocate. */
static void build(sess_t *s) {
  uint8_t *m = s->msg;
  for (int i = 0; i < 12; i++) s->tid[i] = (uint8_t)random();
  static const uint8_t udp[4] = { 17, 0, 0, 0 };
  int n = tw_begin(m, TW_ALLOCATE, s->tid);
  n += tw_attr(m + n, TW_A_REQUESTED_TRANSPORT, udp, 4);
  if (s->stage == AUTH) {
    n += tw_attr(m + n, TW_A_USERNAME, user, (int)strlen(user));
    n += tw_attr(m + n, TW_A_REALM, realm, realm_len);
    n += tw_attr(m + n, TW_A_NONCE, nonce, nonce_len);
  }
  s->len = tw_finish(m, n, s->stage == AUTH ? key : NULL);
  s->tries = 0; s->rto = RTO0_NS;
}

static void transmit(sess_t *s, uint64_t t) {
  s->tries++; s->sent_at = t; requests++;
  if (s->tries > 1) retransmits++;
  (void)send(s->fd, s->msg, s->len, 0); /* a failed send is a loss; the retransmit timer covers it */
}

static void finish(sess_t *s, int stage, uint64_t t) {
  s->stage = stage;
  if (stage == DONE) lat[ok++] = (uint32_t)((t - s->started) / 1000); else failed++;
}

/* One datagram for session s. */
static void answer(sess_t *s, const uint8_t *b, int len, uint64_t t) {
  tw_msg m;
  if (tw_parse(b, len, &m) || memcmp(m.tid, s->tid, 12) || m.method != TW_ALLOCATE) return;
  if (m.klass == TW_CLASS_SUCCESS) { finish(s, m.has_relayed ? DONE : FAILED, t); if (!m.has_relayed) other_errors++; return; }
  if (m.klass != TW_CLASS_ERROR) return;
  int code = m.error_code;
  if ((code == 401 || code == 438) && m.nonce && m.nonce_len <= 255 && s->challenges < 4) {
    if (code == 438) challenges438++;
    s->challenges++;
    if (m.realm && m.realm_len <= 255 && (m.realm_len != realm_len || memcmp(m.realm, realm, m.realm_len))) {
      memcpy(realm, m.realm, m.realm_len); realm_len = m.realm_len;
      tw_long_term_key(user, realm, realm_len, password, key);
    }
    if (realm_len < 0) { finish(s, FAILED, t); other_errors++; return; }
    /* One nonce for all sessions is enough: each session sends what its own last challenge carried. */
    memcpy(nonce, m.nonce, m.nonce_len); nonce_len = m.nonce_len;
    s->stage = AUTH; build(s); transmit(s, t);
    return;
  }
  if (code > 0 && code < 700) errors[code]++; else other_errors++;
  finish(s, FAILED, t);
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: %s HOST PORT COUNT IN_FLIGHT USER PASSWORD [LOCAL_IP]\n", argv[0]); return 2; }
  struct sockaddr_in dst = {0}, src = {0};
  dst.sin_family = src.sin_family = AF_INET; dst.sin_port = htons(atoi(argv[2]));
  count = atoi(argv[3]); in_flight = atoi(argv[4]); user = argv[5]; password = argv[6];
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || inet_pton(AF_INET, argc > 7 ? argv[7] : "127.0.0.2", &src.sin_addr) != 1) {
    fprintf(stderr, "alloc_flood: bad IPv4 address\n"); return 2;
  }
  if (count < 1 || in_flight < 1) { fprintf(stderr, "alloc_flood: COUNT and IN_FLIGHT must be positive\n"); return 2; }
  srandom((unsigned)now_ns());
  S = calloc(count, sizeof *S); lat = calloc(count, sizeof *lat);
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof src) < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
      fprintf(stderr, "alloc_flood: socket %d of %d: %s (raise ulimit -n?)\n", i, count, strerror(errno)); return 2;
    }
    S[i].fd = fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }

  int *active = malloc(in_flight * sizeof(int)), nactive = 0, next = 0;
  struct epoll_event evs[256];
  uint8_t buf[2048];
  double cpu0 = cpu_now();
  uint64_t start = now_ns(), half_at = 0, last_scan = start, deadline = start + 120000000000ull;
  while (ok + failed < (uint64_t)count) {
    uint64_t t = now_ns();
    /* Fill the window. Finished sessions are dropped from `active` lazily, below. */
    while (next < count && nactive < in_flight) {
      sess_t *s = &S[next]; s->stage = PROBE; s->started = t; build(s); transmit(s, t);
      active[nactive++] = next++;
    }
    int n = epoll_wait(ep, evs, 256, 5);
    t = now_ns();
    for (int e = 0; e < n; e++) {
      sess_t *s = &S[evs[e].data.u32];
      for (;;) {
        ssize_t got = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0) { if (errno == EINTR || errno == ECONNREFUSED) continue; break; }
        if (s->stage == PROBE || s->stage == AUTH) answer(s, buf, (int)got, t);
      }
    }
    if (!half_at && ok >= (uint64_t)(count / 2) && count >= 2) half_at = t;
    int k = 0;
    for (int i = 0; i < nactive; i++) { int j = active[i]; if (S[j].stage == PROBE || S[j].stage == AUTH) active[k++] = j; }
    nactive = k;
    if (t - last_scan > 10000000ull) { /* retransmissions, every 10 ms */
      last_scan = t;
      for (int i = 0; i < nactive; i++) {
        sess_t *s = &S[active[i]];
        if (t - s->sent_at < s->rto) continue;
        if (s->tries >= MAXTRIES) { finish(s, FAILED, t); errors[0]++; continue; }
        s->rto *= 2; transmit(s, t);
      }
    }
    if (t > deadline) { fprintf(stderr, "alloc_flood: gave up after 120 s\n"); break; }
  }
  uint64_t end = now_ns();
  double gen_cpu = cpu_now() - cpu0, el = (end - start) / 1e9;
  uint64_t nl = ok;
  qsort(lat, nl, sizeof *lat, cmp_u32);
  double h1 = half_at ? (count / 2) / ((half_at - start) / 1e9) : 0;
  double h2 = half_at && end > half_at ? (ok - count / 2) / ((end - half_at) / 1e9) : 0;
  printf("allocations_per_s=%.0f ok=%llu failed=%llu requests=%llu retransmits=%llu stale_nonce=%llu "
         "first_half_per_s=%.0f second_half_per_s=%.0f p50_us=%u p99_us=%u max_us=%u",
         ok / el, (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)requests,
         (unsigned long long)retransmits, (unsigned long long)challenges438, h1, h2,
         nl ? lat[nl / 2] : 0, nl ? lat[(size_t)(nl * 0.99)] : 0, nl ? lat[nl - 1] : 0);
  printf(" errors=");
  int any = 0;
  if (errors[0]) { printf("timeout:%llu", (unsigned long long)errors[0]); any = 1; }
  for (int c = 1; c < 700; c++) if (errors[c]) { printf("%s%d:%llu", any ? "," : "", c, (unsigned long long)errors[c]); any = 1; }
  if (other_errors) { printf("%sother:%llu", any ? "," : "", (unsigned long long)other_errors); any = 1; }
  if (!any) printf("none");
  printf(" generator_cpu_s=%.2f elapsed_s=%.3f\n", gen_cpu, el);
  fflush(stdout);
  return failed == 0 && ok == (uint64_t)count ? 0 : 1;
}
