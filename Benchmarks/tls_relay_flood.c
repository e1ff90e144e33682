/* tls_relay_flood: saturating TURN ChannelData round trips with the client leg over TLS, for side-by-side comparisons.
 * Build: gcc -O2 -o tls_relay_flood tls_relay_flood.c -lssl -lcrypto   (turn_wire.h beside it)
 * Use:   tls_relay_flood HOST PORT SECONDS WINDOW PAYLOAD ALLOCATIONS USER PASSWORD [tls12]
 * Setup, one allocation after another, blocking: a TCP connection to HOST:PORT, a TLS handshake (no verification),
 * Allocate -> 401 -> Allocate with MESSAGE-INTEGRITY (long-term credentials), then ChannelBind 0x4000 to a UDP peer
 * socket of our own on 127.0.0.1 (438 answered with the new nonce). Every allocation must succeed or the tool exits 3.
 * Then, like relay_flood.c, each allocation keeps WINDOW ChannelData messages (PAYLOAD bytes, padded to 4 over the
 * stream as RFC 8656 §12.5 asks) in flight: client -TLS-> relay -UDP-> peer, which echoes to its source (the relayed
 * address), relay -TLS-> client, which records the round trip and sends the next message. All answers read in one
 * turn go out in one SSL_write per connection. One thread, poll. A message unanswered after 200 ms (the UDP legs may
 * drop under load) counts as lost and is resent on a new sequence number.
 * Prints: round_trips_per_s, p50/p99/max latency (us), lost, late, bad, sent, round_trips, tls version,
 * generator CPU seconds (measured part only), elapsed seconds. */
#define _GNU_SOURCE
#define TW_CRYPTO
#include "turn_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL 0x4000
#define MAXC 256
#define NB 64
#define BUFSZ 2048
#define INSZ 65536
#define OUTSZ 262144
#define TAG 0x544C5246u /* "TLRF" */

typedef struct { uint64_t sent_at; uint32_t seq; } slot_t;
typedef struct {
  int fd, pfd;
  SSL *ssl;
  slot_t *slots;
  uint8_t *in; int in_len;
  uint8_t *out; int out_len, out_off;
} client_t;
typedef struct __attribute__((packed)) { uint32_t magic, client, slot, seq; uint64_t ts; } tag_t;

static client_t cl[MAXC];
static int nclient, window, payload;
static uint64_t seqno = 1, ok, lost, late, sent, bad;
static uint32_t *lat; static size_t nlat, cap = 1 << 23;
static uint8_t rbuf[NB][BUFSZ];
static struct sockaddr_in names[NB];
static const char *user, *password;
static uint8_t realm[256], key[16]; static int realm_len;

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static int cmp_u32(const void *a, const void *b) { uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b; return x < y ? -1 : x > y; }
static double cpu_now(void) {
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
static void die(const char *what, int c) {
  char buf[256] = ""; unsigned long e = ERR_peek_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf); else snprintf(buf, sizeof buf, "%s", errno ? strerror(errno) : "closed");
  fprintf(stderr, "tls_relay_flood: allocation %d: %s: %s\n", c, what, buf);
  exit(3);
}

/* Blocking: sends m and reads frames until the response to tid; returns the response's length in resp. */
static int transact(int c, const uint8_t *m, int n, const uint8_t tid[12], uint8_t *resp) {
  if (SSL_write(cl[c].ssl, m, n) != n) die("TLS write", c);
  int have = 0;
  for (;;) {
    while (have >= 4) {
      int channel = (resp[0] & 0xC0) == 0x40, body = resp[2] << 8 | resp[3];
      int size = channel ? 4 + ((body + 3) & ~3) : 20 + body;
      if (size > BUFSZ) die("oversized frame", c);
      if (have < size) break;
      if (!channel && !memcmp(resp + 8, tid, 12)) return size;
      memmove(resp, resp + size, have - size); have -= size;
    }
    int r = SSL_read(cl[c].ssl, resp + have, BUFSZ - have);
    if (r <= 0) die("TLS read", c);
    have += r;
  }
}

/* One request of `type` with the attributes after the header in a[0..alen), signed once a nonce is known; returns
 * the parsed answer (its pointers into resp) and its error code (0: success). A new nonce or realm is kept. */
static int request(int c, unsigned type, const uint8_t *a, int alen, uint8_t *nonce, int *nonce_len, uint8_t *resp, tw_msg *answer) {
  uint8_t m[1024], tid[12];
  for (int i = 0; i < 12; i++) tid[i] = (uint8_t)random();
  int n = tw_begin(m, type, tid);
  memcpy(m + n, a, alen); n += alen;
  if (*nonce_len) {
    n += tw_attr(m + n, TW_A_USERNAME, user, strlen(user));
    n += tw_attr(m + n, TW_A_REALM, realm, realm_len);
    n += tw_attr(m + n, TW_A_NONCE, nonce, *nonce_len);
  }
  n = tw_finish(m, n, *nonce_len ? key : NULL);
  if (tw_parse(resp, transact(c, m, n, tid, resp), answer) != 0) die("not a STUN answer", c);
  if (answer->nonce && answer->nonce_len <= 255) { memcpy(nonce, answer->nonce, answer->nonce_len); *nonce_len = answer->nonce_len; }
  if (answer->realm && answer->realm_len <= 255 && (answer->realm_len != realm_len || memcmp(answer->realm, realm, realm_len))) {
    memcpy(realm, answer->realm, answer->realm_len); realm_len = answer->realm_len;
    tw_long_term_key(user, realm, realm_len, password, key);
  }
  if (answer->klass == TW_CLASS_SUCCESS) return 0;
  return answer->error_code ? answer->error_code : 500;
}

static void setup(int c, SSL_CTX *ctx, struct sockaddr_in *dst) {
  client_t *k = &cl[c];
  k->fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1; setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(k->fd, (struct sockaddr *)dst, sizeof *dst) < 0) die("connect", c);
  k->ssl = SSL_new(ctx); SSL_set_fd(k->ssl, k->fd);
  if (SSL_connect(k->ssl) != 1) die("TLS handshake", c);
  k->pfd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in peer = { .sin_family = AF_INET }; inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
  if (bind(k->pfd, (struct sockaddr *)&peer, sizeof peer) < 0) die("peer bind", c);
  socklen_t pl = sizeof peer; getsockname(k->pfd, (struct sockaddr *)&peer, &pl);
  int size = 4 << 20; setsockopt(k->pfd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);

  uint8_t a[64], resp[BUFSZ], nonce[256]; int nonce_len = 0, code = 0; tw_msg answer;
  static const uint8_t udp[4] = { 17, 0, 0, 0 };
  int alen = tw_attr(a, TW_A_REQUESTED_TRANSPORT, udp, 4);
  for (int attempt = 0; attempt < 4; attempt++) {
    int signed_request = nonce_len > 0;
    code = request(c, TW_ALLOCATE, a, alen, nonce, &nonce_len, resp, &answer);
    if (!code && answer.has_relayed) break;
    if (code == 401 && signed_request) { fprintf(stderr, "tls_relay_flood: allocation %d: credentials refused\n", c); exit(3); }
    if (code != 401 && code != 438) { fprintf(stderr, "tls_relay_flood: allocation %d: Allocate answered %d\n", c, code); exit(3); }
  }
  if (code) { fprintf(stderr, "tls_relay_flood: allocation %d: Allocate failed\n", c); exit(3); }
  uint8_t ch[4] = { CHANNEL >> 8, CHANNEL & 0xff, 0, 0 };
  alen = tw_attr(a, TW_A_CHANNEL_NUMBER, ch, 4);
  alen += tw_attr_xor_addr(a + alen, TW_A_XOR_PEER_ADDRESS, &peer);
  for (int attempt = 0; attempt < 4; attempt++) {
    code = request(c, TW_CHANNEL_BIND, a, alen, nonce, &nonce_len, resp, &answer);
    if (code != 438) break;
  }
  if (code) { fprintf(stderr, "tls_relay_flood: allocation %d: ChannelBind answered %d\n", c, code); exit(3); }
  fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
  fcntl(k->pfd, F_SETFL, fcntl(k->pfd, F_GETFL) | O_NONBLOCK);
  k->in = malloc(INSZ); k->out = malloc(OUTSZ);
  k->slots = calloc(window, sizeof(slot_t));
}

/* Appends client c's message for slot w to its output. */
static void queue_slot(int c, int w, uint64_t t) {
  client_t *k = &cl[c];
  int size = 4 + ((payload + 3) & ~3);
  if (k->out_len + size > OUTSZ) return; /* cannot happen with WINDOW * size < OUTSZ; checked in main */
  slot_t *sl = &k->slots[w]; sl->seq = (uint32_t)seqno++; sl->sent_at = t;
  uint8_t *m = k->out + k->out_len;
  tw_channel_data(m, CHANNEL, payload);
  tag_t tg = { TAG, (uint32_t)c, (uint32_t)w, sl->seq, t };
  memcpy(m + 4, &tg, sizeof tg);
  memset(m + 4 + sizeof tg, 0xA5, size - 4 - sizeof tg);
  k->out_len += size;
  sent++;
}

/* Writes what client c has queued, as far as TLS takes it now. */
static void flush_out(int c) {
  client_t *k = &cl[c];
  while (k->out_off < k->out_len) {
    ERR_clear_error();
    int r = SSL_write(k->ssl, k->out + k->out_off, k->out_len - k->out_off);
    if (r > 0) { k->out_off += r; continue; }
    int e = SSL_get_error(k->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
    die("TLS write", c);
  }
  if (k->out_off == k->out_len) { k->out_off = k->out_len = 0; }
  else if (k->out_off > OUTSZ / 2) { memmove(k->out, k->out + k->out_off, k->out_len - k->out_off); k->out_len -= k->out_off; k->out_off = 0; }
}

/* Client side: every ChannelData answer read now frees a slot, refilled at once; one write at the end. */
static void receive(int c, int counting) {
  client_t *k = &cl[c];
  uint64_t t = now_ns();
  for (;;) {
    ERR_clear_error();
    int r = SSL_read(k->ssl, k->in + k->in_len, INSZ - k->in_len);
    if (r <= 0) {
      int e = SSL_get_error(k->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
      die("TLS read", c);
    }
    k->in_len += r;
    int p = 0;
    while (k->in_len - p >= 4) {
      const uint8_t *b = k->in + p;
      int channel = (b[0] & 0xC0) == 0x40, body = b[2] << 8 | b[3];
      int size = channel ? 4 + ((body + 3) & ~3) : 20 + body;
      if (k->in_len - p < size) break;
      p += size;
      if (!channel) continue; /* a STUN message (none expected while flooding) */
      tag_t tg;
      if ((b[0] << 8 | b[1]) != CHANNEL || body != payload) { bad++; continue; }
      memcpy(&tg, b + 4, sizeof tg);
      if (tg.magic != TAG || tg.client != (uint32_t)c || tg.slot >= (uint32_t)window) { bad++; continue; }
      if (k->slots[tg.slot].seq != tg.seq) { late++; continue; }
      if (counting) { ok++; if (nlat < cap) lat[nlat++] = (uint32_t)((t - tg.ts) / 1000); }
      else k->slots[tg.slot].sent_at = 1; /* verification: marks the allocation as answered */
      if (counting) queue_slot(c, tg.slot, t);
    }
    memmove(k->in, k->in + p, k->in_len - p); k->in_len -= p;
  }
  flush_out(c);
}

/* Peer side: echo every datagram to its source (the relayed address); one batch per socket per poll round. */
static void echo(int pfd) {
  struct mmsghdr mm[NB]; struct iovec io[NB];
  for (int i = 0; i < NB; i++) {
    io[i].iov_base = rbuf[i]; io[i].iov_len = BUFSZ; memset(&mm[i], 0, sizeof mm[i]);
    mm[i].msg_hdr.msg_iov = &io[i]; mm[i].msg_hdr.msg_iovlen = 1;
    mm[i].msg_hdr.msg_name = &names[i]; mm[i].msg_hdr.msg_namelen = sizeof names[i];
  }
  int got = recvmmsg(pfd, mm, NB, MSG_DONTWAIT, NULL);
  if (got <= 0) return;
  for (int i = 0; i < got; i++) io[i].iov_len = mm[i].msg_len;
  int off = 0;
  while (off < got) { int n = sendmmsg(pfd, mm + off, got - off, 0); if (n <= 0) break; off += n; }
}

static void poll_round(struct pollfd *pfd, int counting, int timeout_ms) {
  for (int c = 0; c < nclient; c++) {
    pfd[2 * c] = (struct pollfd){ cl[c].fd, POLLIN | (cl[c].out_len > cl[c].out_off ? POLLOUT : 0), 0 };
    pfd[2 * c + 1] = (struct pollfd){ cl[c].pfd, POLLIN, 0 };
  }
  if (poll(pfd, 2 * nclient, timeout_ms) <= 0) return;
  for (int c = 0; c < nclient; c++) {
    if (pfd[2 * c + 1].revents & POLLIN) echo(cl[c].pfd);
    if (pfd[2 * c].revents & (POLLIN | POLLERR | POLLHUP)) receive(c, counting);
    else if (pfd[2 * c].revents & POLLOUT) flush_out(c);
  }
}

int main(int argc, char **argv) {
  if (argc < 9) { fprintf(stderr, "usage: %s HOST PORT SECONDS WINDOW PAYLOAD ALLOCATIONS USER PASSWORD [tls12]\n", argv[0]); return 2; }
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
  double secs = atof(argv[3]); window = atoi(argv[4]); payload = atoi(argv[5]); nclient = atoi(argv[6]);
  user = argv[7]; password = argv[8];
  int tls12 = argc > 9 && !strcmp(argv[9], "tls12");
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) { fprintf(stderr, "tls_relay_flood: bad IPv4 address\n"); return 2; }
  if (window < 1 || nclient < 1 || nclient > MAXC || payload < (int)sizeof(tag_t) || payload > BUFSZ - 8 ||
      window * (4 + payload + 3) > OUTSZ) {
    fprintf(stderr, "tls_relay_flood: bad window, payload (%zu..%d) or allocations (1..%d)\n", sizeof(tag_t), BUFSZ - 8, MAXC);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  srandom((unsigned)now_ns());
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (tls12) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  for (int c = 0; c < nclient; c++) setup(c, ctx, &dst);
  lat = malloc(cap * sizeof(uint32_t));
  struct pollfd pfd[2 * MAXC];

  /* One probe per allocation must come back through the relay before the clock starts. */
  for (int c = 0; c < nclient; c++) { queue_slot(c, 0, now_ns()); flush_out(c); }
  uint64_t until = now_ns() + 3000000000ull;
  for (;;) {
    int all = 1; for (int c = 0; c < nclient; c++) if (cl[c].slots[0].sent_at != 1) all = 0;
    if (all) break;
    if (now_ns() > until) {
      for (int c = 0; c < nclient; c++) if (cl[c].slots[0].sent_at != 1)
        fprintf(stderr, "tls_relay_flood: allocation %d: probe never came back through the relay\n", c);
      return 3;
    }
    poll_round(pfd, 0, 50);
  }
  sent = 0;

  double cpu0 = cpu_now();
  uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9), last_scan = start;
  for (int c = 0; c < nclient; c++) { for (int w = 0; w < window; w++) queue_slot(c, w, start); flush_out(c); }
  for (;;) {
    uint64_t t = now_ns(); if (t >= end) break;
    poll_round(pfd, 1, 10);
    t = now_ns();
    if (t - last_scan > 50000000ull) {
      last_scan = t;
      for (int c = 0; c < nclient; c++) {
        int any = 0;
        for (int w = 0; w < window; w++) if (t - cl[c].slots[w].sent_at > 200000000ull) { lost++; queue_slot(c, w, t); any = 1; }
        if (any) flush_out(c);
      }
    }
  }
  double el = (now_ns() - start) / 1e9, gen_cpu = cpu_now() - cpu0;
  qsort(lat, nlat, sizeof(uint32_t), cmp_u32);
  printf("round_trips_per_s=%.0f p50_us=%u p99_us=%u max_us=%u lost=%llu late=%llu bad=%llu sent=%llu round_trips=%llu "
         "tls=%s generator_cpu_s=%.2f elapsed_s=%.2f\n",
         ok / el, nlat ? lat[nlat / 2] : 0, nlat ? lat[(size_t)(nlat * 0.99)] : 0, nlat ? lat[nlat - 1] : 0,
         (unsigned long long)lost, (unsigned long long)late, (unsigned long long)bad, (unsigned long long)sent,
         (unsigned long long)ok, SSL_get_version(cl[0].ssl), gen_cpu, el);
  return ok ? 0 : 1;
}
