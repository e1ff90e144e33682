/* turn_wire.h: the STUN/TURN message bits the C load generators share (RFC 8489, RFC 8656), header-only.
 *
 * Builders: tw_begin() writes a 20-byte header, tw_attr()/tw_attr_xor_addr() append attributes, tw_finish() appends
 * MESSAGE-INTEGRITY (HMAC-SHA1, when a key is given) and FINGERPRINT and sets the length. tw_parse() reads a response:
 * type, transaction ID, REALM, NONCE, ERROR-CODE, XOR-RELAYED-ADDRESS. tw_channel_data() writes a ChannelData header.
 * MESSAGE-INTEGRITY and the long-term key need OpenSSL's libcrypto: define TW_CRYPTO before including this header and
 * link -lcrypto; without it only the unauthenticated parts are compiled.
 * Written for these benchmarks from the RFCs; it does only what they need (IPv4, UDP). */
#ifndef TURN_WIRE_H
#define TURN_WIRE_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#ifdef TW_CRYPTO
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#endif

#define TW_MAGIC 0x2112A442u

/* Methods and classes (RFC 8489 §5, RFC 8656 §18). */
#define TW_ALLOCATE 0x0003
#define TW_CHANNEL_BIND 0x0009
#define TW_CREATE_PERMISSION 0x0008
#define TW_CLASS_SUCCESS 0x0100
#define TW_CLASS_ERROR 0x0110

/* Attributes. */
#define TW_A_USERNAME 0x0006
#define TW_A_MESSAGE_INTEGRITY 0x0008
#define TW_A_ERROR_CODE 0x0009
#define TW_A_CHANNEL_NUMBER 0x000C
#define TW_A_LIFETIME 0x000D
#define TW_A_XOR_PEER_ADDRESS 0x0012
#define TW_A_REALM 0x0014
#define TW_A_NONCE 0x0015
#define TW_A_XOR_RELAYED_ADDRESS 0x0016
#define TW_A_REQUESTED_TRANSPORT 0x0019
#define TW_A_XOR_MAPPED_ADDRESS 0x0020
#define TW_A_FINGERPRINT 0x8028

static inline void tw_put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void tw_put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static inline unsigned tw_get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static inline uint32_t tw_get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* CRC-32 (ISO 3309, as zlib) for FINGERPRINT. */
static inline uint32_t tw_crc32(const uint8_t *p, size_t n) {
  static uint32_t table[256];
  static int ready;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

/* Appends one attribute (type, length, value, zero padding to 4 bytes) at p; returns the bytes written. */
static inline int tw_attr(uint8_t *p, unsigned type, const void *v, int n) {
  tw_put16(p, type); tw_put16(p + 2, (unsigned)n); memcpy(p + 4, v, (size_t)n);
  int pad = (4 - n % 4) % 4;
  memset(p + 4 + n, 0, (size_t)pad);
  return 4 + n + pad;
}

/* An XOR-…-ADDRESS attribute (IPv4) for a, whose address and port are in network order. */
static inline int tw_attr_xor_addr(uint8_t *p, unsigned type, const struct sockaddr_in *a) {
  uint8_t v[8];
  v[0] = 0; v[1] = 0x01;
  tw_put16(v + 2, ntohs(a->sin_port) ^ (TW_MAGIC >> 16));
  tw_put32(v + 4, ntohl(a->sin_addr.s_addr) ^ TW_MAGIC);
  return tw_attr(p, type, v, 8);
}

/* Reads an XOR-…-ADDRESS value (IPv4 only). Returns 0 on success. */
static inline int tw_xor_addr_parse(const uint8_t *v, int len, struct sockaddr_in *out) {
  if (len < 8 || v[1] != 0x01) return -1;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)(tw_get16(v + 2) ^ (TW_MAGIC >> 16)));
  out->sin_addr.s_addr = htonl(tw_get32(v + 4) ^ TW_MAGIC);
  return 0;
}

/* Writes a request header (length filled in by tw_finish); returns 20, the offset of the first attribute. */
static inline int tw_begin(uint8_t *m, unsigned type, const uint8_t tid[12]) {
  tw_put16(m, type); tw_put16(m + 2, 0); tw_put32(m + 4, TW_MAGIC); memcpy(m + 8, tid, 12);
  return 20;
}

#ifdef TW_CRYPTO
/* The long-term credential key: MD5(username ":" realm ":" password) (RFC 8489 §9.2.2, no SASLprep here). */
static inline void tw_long_term_key(const char *user, const uint8_t *realm, int realm_len, const char *password,
                                    uint8_t key[16]) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "%s:%.*s:%s", user, realm_len, (const char *)realm, password);
  unsigned klen = 16;
  EVP_Digest(buf, (size_t)n, key, &klen, EVP_md5(), NULL);
}
#endif

/* Ends a message whose attributes run to offset n: MESSAGE-INTEGRITY when key is not NULL (needs TW_CRYPTO), then
 * FINGERPRINT. Sets the header's length field and returns the message's total length. */
static inline int tw_finish(uint8_t *m, int n, const uint8_t *key) {
#ifdef TW_CRYPTO
  if (key) {
    tw_put16(m + 2, (unsigned)(n - 20 + 24)); /* the length covers MESSAGE-INTEGRITY, not the FINGERPRINT after it */
    unsigned mlen = 20;
    HMAC(EVP_sha1(), key, 16, m, (size_t)n, m + n + 4, &mlen);
    tw_put16(m + n, TW_A_MESSAGE_INTEGRITY); tw_put16(m + n + 2, 20);
    n += 24;
  }
#else
  (void)key;
#endif
  tw_put16(m + 2, (unsigned)(n - 20 + 8));
  uint8_t c[4];
  tw_put32(c, tw_crc32(m, (size_t)n) ^ 0x5354554Eu);
  return n + tw_attr(m + n, TW_A_FINGERPRINT, c, 4);
}

/* What the load generators read from a response. Pointers point into the datagram. */
typedef struct {
  unsigned type, method, klass;
  const uint8_t *tid;
  const uint8_t *realm, *nonce;
  int realm_len, nonce_len;
  int error_code; /* 0 when there is no ERROR-CODE */
  int has_relayed;
  struct sockaddr_in relayed;
} tw_msg;

/* Parses a STUN message header and the attributes above (first of each). Returns 0 when b is a STUN message. */
static inline int tw_parse(const uint8_t *b, int len, tw_msg *m) {
  memset(m, 0, sizeof *m);
  if (len < 20 || (b[0] & 0xC0) || tw_get32(b + 4) != TW_MAGIC) return -1;
  unsigned alen = tw_get16(b + 2);
  if (20 + alen > (unsigned)len) return -1;
  m->type = tw_get16(b);
  m->method = m->type & 0x3EEF;
  m->klass = m->type & 0x0110;
  m->tid = b + 8;
  int have_err = 0;
  for (unsigned p = 20; p + 4 <= 20 + alen;) {
    unsigned at = tw_get16(b + p), al = tw_get16(b + p + 2);
    if (p + 4 + al > 20 + alen) break;
    const uint8_t *v = b + p + 4;
    if (at == TW_A_REALM && !m->realm) { m->realm = v; m->realm_len = (int)al; }
    else if (at == TW_A_NONCE && !m->nonce) { m->nonce = v; m->nonce_len = (int)al; }
    else if (at == TW_A_ERROR_CODE && !have_err && al >= 4) { m->error_code = (v[2] & 7) * 100 + v[3]; have_err = 1; }
    else if (at == TW_A_XOR_RELAYED_ADDRESS && !m->has_relayed) m->has_relayed = tw_xor_addr_parse(v, (int)al, &m->relayed) == 0;
    p += 4 + al + (4 - al % 4) % 4;
  }
  return 0;
}

/* ChannelData header (RFC 8656 §12.4): channel number and payload length. Over UDP no padding follows. */
static inline int tw_channel_data(uint8_t *m, uint16_t channel, unsigned payload_len) {
  tw_put16(m, channel); tw_put16(m + 2, payload_len);
  return 4;
}

#endif
