// The floor for a per-packet-syscall STUN server on this machine: one thread, one UDP socket, recvmmsg/sendmmsg
// in batches of up to 64, and the least a Binding success response may hold (XOR-MAPPED-ADDRESS and FINGERPRINT).
// Not a server anyone should run: no checks beyond the header, IPv4 only. `stun-binding --floor` measures it with
// the same generator and the same /proc readings as the two real servers, so the gap to it is the user-space cost.
//
// Usage: stun_floor IP PORT   (PORT 0 picks one; prints "stun udp IP:PORT" once bound, then serves until killed)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64
#define MAX_DATAGRAM 1500

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, size_t n) {
    uint32_t c = ~0u;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

// Writes a Binding success response for `req` (already checked to be a Binding request) into `out`; returns its length.
static size_t respond(const uint8_t *req, const struct sockaddr_in *from, uint8_t *out) {
    memcpy(out, req, 20);
    out[0] = 0x01; out[1] = 0x01;
    uint8_t *a = out + 20;
    a[0] = 0x00; a[1] = 0x20; a[2] = 0x00; a[3] = 8;          // XOR-MAPPED-ADDRESS, 8 bytes
    a[4] = 0; a[5] = 0x01;                                     // family IPv4
    uint16_t port = ntohs(from->sin_port) ^ 0x2112;
    a[6] = port >> 8; a[7] = port & 0xFF;
    uint32_t ip = ntohl(from->sin_addr.s_addr) ^ 0x2112A442u;
    a[8] = ip >> 24; a[9] = ip >> 16; a[10] = ip >> 8; a[11] = ip;
    uint8_t *f = a + 12;
    uint16_t length = 12 + 8;
    out[2] = length >> 8; out[3] = length & 0xFF;
    uint32_t fp = crc32(out, (size_t)(f - out)) ^ 0x5354554Eu;
    f[0] = 0x80; f[1] = 0x28; f[2] = 0; f[3] = 4;
    f[4] = fp >> 24; f[5] = fp >> 16; f[6] = fp >> 8; f[7] = fp;
    return 20 + length;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: stun_floor IP PORT\n"); return 2; }
    crc_init();
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &local.sin_addr) != 1) { fprintf(stderr, "bad IPv4 address\n"); return 2; }
    if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) { perror("bind"); return 1; }
    socklen_t len = sizeof local;
    getsockname(fd, (struct sockaddr *)&local, &len);
    printf("stun udp %s:%d\n", argv[1], ntohs(local.sin_port));
    fflush(stdout);

    static uint8_t in[BATCH][MAX_DATAGRAM], out[BATCH][128];
    static struct sockaddr_in peers[BATCH];
    static struct iovec in_iov[BATCH], out_iov[BATCH];
    static struct mmsghdr in_msgs[BATCH], out_msgs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        in_iov[i] = (struct iovec){ in[i], MAX_DATAGRAM };
        in_msgs[i].msg_hdr = (struct msghdr){ .msg_name = &peers[i], .msg_iov = &in_iov[i], .msg_iovlen = 1 };
    }
    for (;;) {
        for (int i = 0; i < BATCH; i++) in_msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        int n = recvmmsg(fd, in_msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        int replies = 0;
        for (int i = 0; i < n; i++) {
            const uint8_t *req = in[i];
            if (in_msgs[i].msg_len < 20 || req[0] != 0x00 || req[1] != 0x01) continue;
            out_iov[replies] = (struct iovec){ out[replies], respond(req, &peers[i], out[replies]) };
            out_msgs[replies].msg_hdr = (struct msghdr){ .msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                                         .msg_iov = &out_iov[replies], .msg_iovlen = 1 };
            replies++;
        }
        for (int sent = 0; sent < replies;) {
            int m = sendmmsg(fd, out_msgs + sent, replies - sent, 0);
            if (m <= 0) break;
            sent += m;
        }
    }
}
