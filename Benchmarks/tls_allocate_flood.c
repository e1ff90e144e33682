/* tls_allocate_flood: TURN over TLS, one new TLS connection per authenticated Allocate, as fast as the server takes them.
 * Build: gcc -O2 -o tls_allocate_flood tls_allocate_flood.c -lssl -lcrypto
 * Use:   tls_allocate_flood HOST PORT SECONDS IN_FLIGHT USER PASSWORD [LOCAL_IP|-] [tls12]
 * Keeps IN_FLIGHT operations under way at once (one thread, nonblocking sockets, epoll) and starts new ones until
 * SECONDS have passed; those under way then finish. One operation is what a `turns:` client does first:
 *   TCP connect to HOST:PORT (from LOCAL_IP when given; "-" or nothing: the kernel's choice) -> TLS handshake (no
 *   certificate verification, no SNI, no session resumption; `tls12` caps the version at TLS 1.2) ->
 *   Allocate (REQUESTED-TRANSPORT=UDP, FINGERPRINT) -> 401 with REALM and NONCE ->
 *   Allocate with USERNAME, REALM, NONCE, REQUESTED-TRANSPORT, MESSAGE-INTEGRITY (HMAC-SHA1, key
 *   MD5(user:realm:password)) and FINGERPRINT -> success with XOR-RELAYED-ADDRESS -> close (no close_notify; the
 *   server ends the allocation when the connection goes).
 * Same messages as alloc_flood.c. Over TLS a STUN message is framed by its header's length field; messages may
 * arrive split over TLS records or several in one. A 438 (stale nonce) is answered with the new nonce, at most 4
 * times. An operation not finished after 10 s fails as a timeout; refused or reset connections, failed handshakes,
 * error responses and connections closed before the success all count as failed.
 * Prints: operations_per_s (successes / time from the first connect to the last operation's end), ok, failed,
 * stale_nonce, latency p50/p99/max (us, connect to success of one operation), handshake_p50_us (connect to
 * handshake done), error classes and codes, the negotiated TLS version(s) and the first connection's cipher,
 * generator CPU seconds (measured part only) and elapsed seconds. Exit 0 when nothing failed, 1 otherwise. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x2112A442u
#define TIMEOUT_NS 10000000000ull
#define RECV_MAX 2048

enum { FREE, CONNECTING, HANDSHAKE, PROBE, AUTH };
enum { E_TIMEOUT, E_CONNECT, E_TLS, E_CLOSED, E_OTHER, E_CLASSES };
static const char *error_names[E_CLASSES] = { "timeout", "connect", "tls", "closed", "other" };

typedef struct {
  int fd, stage, challenges, out_len, out_sent, in_len;
  uint32_t gen;
  SSL *ssl;
  uint8_t tid[12];
  uint64_t started;
  uint8_t out[512], in[RECV_MAX];
  uint8_t nonce[256]; int nonce_len;
} op_t;

static op_t *O;
static int in_flight, ep;
static SSL_CTX *ctx;
static struct sockaddr_in dst, src; static int bind_src;
static const char *user, *password;
static uint8_t realm[256], key[16]; static int realm_len = -1;
static size_t ok;
static uint64_t failed, challenges438, errors[700], classes[E_CLASSES], versions[8];
static char cipher[128];
static uint32_t *lat, *hs_lat; static size_t lat_cap, hs_n, hs_cap;
static uint32_t crc_table[256];

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static int cmp_u32(const void *a, const void *b) { uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b; return x < y ? -1 : x > y; }
static double cpu_now(void) {
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
static void push(uint32_t **a, size_t *n, size_t *cap, uint32_t v) {
  if (*n == *cap) { *cap = *cap ? *cap * 2 : 65536; *a = realloc(*a, *cap * sizeof **a); if (!*a) { perror("realloc"); exit(2); } }
  (*a)[(*n)++] = v;
}

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) { uint32_t c = i; for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1; crc_table[i] = c; }
}
static uint32_t crc32(const uint8_t *p, int n) {
  uint32_t c = 0xFFFFFFFFu; while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8); return c ^ 0xFFFFFFFFu;
}

static void put16(uint8_t *p, unsigned v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static int attr(uint8_t *p, unsigned type, const void *v, int n) {
  put16(p, type); put16(p + 2, n); memcpy(p + 4, v, n);
  int pad = (4 - n % 4) % 4; memset(p + 4 + n, 0, pad); return 4 + n + pad;
}

/* A fresh transaction for operation o in its current stage: probe Allocate or authenticated Allocate. */
static void build(op_t *o) {
  uint8_t *m = o->out; int n = 20;
  for (int i = 0; i < 12; i++) o->tid[i] = (uint8_t)random();
  static const uint8_t udp[4] = { 17, 0, 0, 0 };
  n += attr(m + n, 0x0019, udp, 4);                     /* REQUESTED-TRANSPORT */
  put16(m, 0x0003); put32(m + 4, MAGIC); memcpy(m + 8, o->tid, 12);
  if (o->stage == AUTH) {
    n += attr(m + n, 0x0006, user, strlen(user));       /* USERNAME */
    n += attr(m + n, 0x0014, realm, realm_len);         /* REALM */
    n += attr(m + n, 0x0015, o->nonce, o->nonce_len);   /* NONCE */
    put16(m + 2, n - 20 + 24);                          /* length covers MESSAGE-INTEGRITY, not FINGERPRINT */
    unsigned mlen = 20;
    HMAC(EVP_sha1(), key, 16, m, n, m + n + 4, &mlen);
    put16(m + n, 0x0008); put16(m + n + 2, 20); n += 24;
  }
  put16(m + 2, n - 20 + 8);
  uint32_t crc = crc32(m, n) ^ 0x5354554Eu;
  uint8_t c[4]; put32(c, crc); n += attr(m + n, 0x8028, c, 4);
  o->out_len = n; o->out_sent = 0;
}

/* Ends operation o (success when cls < 0, else a failure of that class; STUN error codes are counted by the caller)
 * and frees its slot for the next one. */
static void finish(op_t *o, int cls, uint64_t t) {
  if (cls < 0) { push(&lat, &ok, &lat_cap, (uint32_t)((t - o->started) / 1000)); }
  else { failed++; if (cls < E_CLASSES) classes[cls]++; }
  if (o->ssl) { SSL_free(o->ssl); o->ssl = NULL; }
  if (o->fd >= 0) { close(o->fd); o->fd = -1; }
  o->stage = FREE;
}

/* The first error of each class goes to stderr, so that a run full of failures says why. */
static void note_error(int cls, const char *what) {
  static int shown[E_CLASSES];
  if (shown[cls]++) return;
  char buf[256] = "";
  unsigned long e = ERR_peek_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf); else snprintf(buf, sizeof buf, "%s", errno ? strerror(errno) : "connection closed");
  fprintf(stderr, "tls_allocate_flood: first %s error: %s\n", what, buf);
}

static void start(op_t *o, uint64_t t) {
  o->stage = CONNECTING; o->started = t; o->challenges = 0; o->in_len = 0; o->ssl = NULL; o->gen++;
  o->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (o->fd < 0) { note_error(E_CONNECT, "connect"); finish(o, E_CONNECT, t); return; }
  int one = 1;
  setsockopt(o->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind_src) {
    /* The port is chosen at connect time, so that ports in TIME_WAIT to this server can be reused (tcp_tw_reuse). */
    setsockopt(o->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(o->fd, (struct sockaddr *)&src, sizeof src) < 0) { note_error(E_CONNECT, "connect"); finish(o, E_CONNECT, t); return; }
  }
  if (connect(o->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    note_error(E_CONNECT, "connect"); finish(o, E_CONNECT, t); return;
  }
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                            .data.u64 = (uint64_t)o->gen << 32 | (uint32_t)(o - O) };
  epoll_ctl(ep, EPOLL_CTL_ADD, o->fd, &ev);
}

/* One STUN message for operation o; returns 1 when the operation ended. */
static int answer(op_t *o, const uint8_t *b, int len, uint64_t t) {
  if ((b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]) != (int)MAGIC || memcmp(b + 8, o->tid, 12)) return 0;
  unsigned type = b[0] << 8 | b[1], alen = len - 20;
  if ((type & 0x3EEF) != 0x0003) return 0;
  const uint8_t *a_realm = NULL, *a_nonce = NULL, *a_err = NULL; int l_realm = 0, l_nonce = 0, l_err = 0, relayed = 0;
  for (unsigned p = 20; p + 4 <= 20 + alen;) {
    unsigned at = b[p] << 8 | b[p + 1], al = b[p + 2] << 8 | b[p + 3];
    if (p + 4 + al > 20 + alen) break;
    if (at == 0x0014 && !a_realm) { a_realm = b + p + 4; l_realm = al; }
    if (at == 0x0015 && !a_nonce) { a_nonce = b + p + 4; l_nonce = al; }
    if (at == 0x0009 && !a_err) { a_err = b + p + 4; l_err = al; }
    if (at == 0x0016) relayed = 1;
    p += 4 + al + (4 - al % 4) % 4;
  }
  unsigned klass = type & 0x0110;
  if (klass == 0x0100) { finish(o, relayed ? -1 : E_OTHER, t); return 1; }
  if (klass != 0x0110) return 0;
  int code = (a_err && l_err >= 4) ? (a_err[2] & 7) * 100 + a_err[3] : 0;
  if ((code == 401 || code == 438) && a_nonce && l_nonce <= 255 && o->challenges < 4) {
    if (code == 438) challenges438++;
    o->challenges++;
    if (a_realm && l_realm <= 255 && (l_realm != realm_len || memcmp(a_realm, realm, l_realm))) {
      memcpy(realm, a_realm, l_realm); realm_len = l_realm;
      char buf[1024]; int n = snprintf(buf, sizeof buf, "%s:%.*s:%s", user, realm_len, (const char *)realm, password);
      unsigned klen = 16; EVP_Digest(buf, n, key, &klen, EVP_md5(), NULL);
    }
    if (realm_len < 0) { finish(o, E_OTHER, t); return 1; }
    memcpy(o->nonce, a_nonce, l_nonce); o->nonce_len = l_nonce;
    o->stage = AUTH; build(o);
    return 0;
  }
  if (code > 0 && code < 700) { errors[code]++; finish(o, E_CLASSES, t); } else finish(o, E_OTHER, t);
  return 1;
}

/* Moves operation o on as far as its socket allows; returns with o ended or waiting for the socket. */
static void drive(op_t *o, uint64_t t) {
  if (o->stage == CONNECTING) {
    int err = 0; socklen_t el = sizeof err;
    getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err == EINPROGRESS || err == EALREADY) return;
    if (err) { errno = err; note_error(E_CONNECT, "connect"); finish(o, E_CONNECT, t); return; }
    struct sockaddr_in peer; socklen_t pl = sizeof peer;
    if (getpeername(o->fd, (struct sockaddr *)&peer, &pl) < 0) return; /* not connected yet */
    o->ssl = SSL_new(ctx);
    SSL_set_fd(o->ssl, o->fd);
    SSL_set_connect_state(o->ssl);
    o->stage = HANDSHAKE;
  }
  if (o->stage == HANDSHAKE) {
    ERR_clear_error(); errno = 0;
    int r = SSL_do_handshake(o->ssl);
    if (r != 1) {
      int e = SSL_get_error(o->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      note_error(E_TLS, "TLS handshake"); finish(o, E_TLS, t); return;
    }
    push(&hs_lat, &hs_n, &hs_cap, (uint32_t)((t - o->started) / 1000));
    int v = SSL_version(o->ssl) - TLS1_VERSION; /* 0x0301.. */
    versions[v >= 0 && v < 7 ? v : 7]++;
    if (!cipher[0]) snprintf(cipher, sizeof cipher, "%s", SSL_get_cipher_name(o->ssl));
    o->stage = PROBE; build(o);
  }
  for (;;) {
    /* Write whatever request is pending, then read until the socket has nothing more. */
    while (o->out_sent < o->out_len) {
      ERR_clear_error(); errno = 0;
      int r = SSL_write(o->ssl, o->out + o->out_sent, o->out_len - o->out_sent);
      if (r > 0) { o->out_sent += r; continue; }
      int e = SSL_get_error(o->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      note_error(E_CLOSED, "TLS write"); finish(o, E_CLOSED, t); return;
    }
    ERR_clear_error(); errno = 0;
    int r = SSL_read(o->ssl, o->in + o->in_len, RECV_MAX - o->in_len);
    if (r <= 0) {
      int e = SSL_get_error(o->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      int cls = e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) ? E_CLOSED : E_TLS;
      note_error(cls, cls == E_CLOSED ? "closed" : "TLS read"); finish(o, cls, t);
      return;
    }
    o->in_len += r;
    /* Frames: STUN (length in the header, 20 + length) or ChannelData (4 + length, padded to 4 over TCP). */
    int p = 0;
    while (o->in_len - p >= 4) {
      const uint8_t *b = o->in + p;
      int channel = (b[0] & 0xC0) == 0x40, body = b[2] << 8 | b[3];
      int size = channel ? 4 + ((body + 3) & ~3) : 20 + body;
      if (!channel && (b[0] & 0xC0)) { finish(o, E_OTHER, t); return; }
      if (size > RECV_MAX) { finish(o, E_OTHER, t); return; }
      if (o->in_len - p < size) break;
      if (!channel && answer(o, b, size, t)) return;
      p += size;
    }
    memmove(o->in, o->in + p, o->in_len - p); o->in_len -= p;
  }
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: %s HOST PORT SECONDS IN_FLIGHT USER PASSWORD [LOCAL_IP|-] [tls12]\n", argv[0]); return 2; }
  dst.sin_family = src.sin_family = AF_INET; dst.sin_port = htons(atoi(argv[2]));
  double seconds = atof(argv[3]); in_flight = atoi(argv[4]); user = argv[5]; password = argv[6];
  bind_src = argc > 7 && strcmp(argv[7], "-") != 0;
  int tls12 = argc > 8 && strcmp(argv[8], "tls12") == 0;
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || (bind_src && inet_pton(AF_INET, argv[7], &src.sin_addr) != 1)) {
    fprintf(stderr, "tls_allocate_flood: bad IPv4 address\n"); return 2;
  }
  if (seconds <= 0 || in_flight < 1) { fprintf(stderr, "tls_allocate_flood: SECONDS and IN_FLIGHT must be positive\n"); return 2; }
  if (argc > 8 && !tls12) { fprintf(stderr, "tls_allocate_flood: the last argument can only be tls12\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  crc_init(); srandom((unsigned)now_ns());
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) { fprintf(stderr, "tls_allocate_flood: SSL_CTX_new failed\n"); return 2; }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every connection a full handshake */
  if (tls12) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  O = calloc(in_flight, sizeof *O);
  for (int i = 0; i < in_flight; i++) O[i].fd = -1;
  ep = epoll_create1(0);

  struct epoll_event evs[256];
  double cpu0 = cpu_now();
  uint64_t start_t = now_ns(), stop_at = start_t + (uint64_t)(seconds * 1e9), last_scan = start_t, end = start_t;
  int busy = 0;
  for (int i = 0; i < in_flight; i++) start(&O[i], start_t);
  for (;;) {
    int n = epoll_wait(ep, evs, 256, 5);
    uint64_t t = now_ns();
    for (int e = 0; e < n; e++) {
      op_t *o = &O[(uint32_t)evs[e].data.u64];
      if (o->stage != FREE && o->gen == (uint32_t)(evs[e].data.u64 >> 32)) drive(o, t);
    }
    if (t - last_scan > 10000000ull) { /* timeouts, every 10 ms */
      last_scan = t;
      for (int i = 0; i < in_flight; i++) if (O[i].stage != FREE && t - O[i].started > TIMEOUT_NS) finish(&O[i], E_TIMEOUT, t);
    }
    /* Refill the slots that ended; once SECONDS have passed, let the last ones finish. */
    busy = 0;
    for (int i = 0; i < in_flight; i++) {
      if (O[i].stage == FREE && t < stop_at) start(&O[i], t);
      busy += O[i].stage != FREE;
    }
    if (!busy) { end = t; break; }
  }
  double gen_cpu = cpu_now() - cpu0, el = (end - start_t) / 1e9;
  qsort(lat, ok, sizeof *lat, cmp_u32);
  qsort(hs_lat, hs_n, sizeof *hs_lat, cmp_u32);
  printf("operations_per_s=%.0f ok=%llu failed=%llu stale_nonce=%llu p50_us=%u p99_us=%u max_us=%u handshake_p50_us=%u",
         ok / el, (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)challenges438,
         ok ? lat[ok / 2] : 0, ok ? lat[(size_t)(ok * 0.99)] : 0, ok ? lat[ok - 1] : 0, hs_n ? hs_lat[hs_n / 2] : 0);
  printf(" errors=");
  int any = 0;
  for (int c = 0; c < E_CLASSES; c++) if (classes[c]) { printf("%s%s:%llu", any ? "," : "", error_names[c], (unsigned long long)classes[c]); any = 1; }
  for (int c = 1; c < 700; c++) if (errors[c]) { printf("%s%d:%llu", any ? "," : "", c, (unsigned long long)errors[c]); any = 1; }
  if (!any) printf("none");
  /* TLS version(s) negotiated: one name when every connection agreed, else name:count for each. */
  static const char *vnames[8] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "?", "?", "?", "?" };
  int kinds = 0; for (int v = 0; v < 8; v++) kinds += versions[v] > 0;
  printf(" tls=");
  if (!kinds) printf("none");
  for (int v = 0, first = 1; v < 8; v++) if (versions[v]) {
    if (kinds == 1) printf("%s", vnames[v]); else printf("%s%s:%llu", first ? "" : ",", vnames[v], (unsigned long long)versions[v]);
    first = 0;
  }
  printf(" cipher=%s generator_cpu_s=%.2f elapsed_s=%.3f\n", cipher[0] ? cipher : "none", gen_cpu, el);
  fflush(stdout);
  return failed == 0 && ok > 0 ? 0 : 1;
}
