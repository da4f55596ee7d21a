// Fuzzes the addon's parsing (icmp_packet.h) with random and near-valid input, each in a heap
// block of exactly its size so AddressSanitizer catches any read past it. native-socket.test.ts
// builds this with -fsanitize=address,undefined and runs it.
//
//   fuzz_parse [iterations] [seed]   -> prints "ok <iterations> <accepted...>" or dies
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../icmp_packet.h"

using namespace netscan_icmp;

namespace {

uint64_t state = 88172645463325252ULL;
uint64_t Next() {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

// Lengths near the interesting boundaries most of the time.
size_t PickLength(size_t max) {
  switch (Below(4)) {
    case 0: return Below(24);
    case 1: return Below(80);
    case 2: return 14 + 20 + Below(40);
    default: return Below(max + 1);
  }
}

void Fill(uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = static_cast<uint8_t>(Next());
}

// Random bytes, then sometimes an IP header (at offset 0 or after a link header) whose fields are
// consistent, off by one, or wild.
void ShapePacket(uint8_t* p, size_t n, bool v6) {
  Fill(p, n);
  if (Below(3) == 0) return;
  const size_t l = Below(3) == 0 ? 0 : (Below(2) ? 14 : Below(70));
  if (l >= n) return;
  uint8_t* b = p + l;
  const size_t avail = n - l;
  const int jitter = static_cast<int>(Below(5)) - 2;
  if (!v6 && avail >= 1) {
    b[0] = static_cast<uint8_t>(0x40 | (Below(4) == 0 ? Below(16) : 5 + Below(3)));
    if (avail >= 4) {
      const long total = static_cast<long>(Below(3) == 0 ? Below(70000) : avail) + (Below(2) ? jitter : 0);
      b[2] = static_cast<uint8_t>(total >> 8);
      b[3] = static_cast<uint8_t>(total);
    }
    if (avail >= 10) b[9] = Below(4) ? static_cast<uint8_t>(IPPROTO_ICMP) : static_cast<uint8_t>(Next());
  } else if (v6 && avail >= 1) {
    b[0] = 0x60;
    if (avail >= 6) {
      const long payload = static_cast<long>(Below(3) == 0 ? Below(70000) : (avail > 40 ? avail - 40 : 0)) + (Below(2) ? jitter : 0);
      b[4] = static_cast<uint8_t>(payload >> 8);
      b[5] = static_cast<uint8_t>(payload);
    }
    if (avail >= 7) b[6] = Below(4) ? static_cast<uint8_t>(IPPROTO_ICMPV6) : static_cast<uint8_t>(Next());
  }
}

// A control buffer of random cmsgs whose lengths may lie.
void ShapeControl(uint8_t* c, size_t n) {
  Fill(c, n);
  size_t at = 0;
  while (at + sizeof(struct cmsghdr) <= n && Below(5) != 0) {
    struct cmsghdr h;
    memset(&h, 0, sizeof h);
    static const int kinds[][2] = {
      {SOL_SOCKET, SCM_TIMESTAMPNS}, {SOL_SOCKET, SCM_TIMESTAMPING}, {SOL_IP, IP_RECVERR}, {SOL_IPV6, IPV6_RECVERR}, {SOL_IP, IP_TTL},
    };
    const int k = static_cast<int>(Below(5));
    h.cmsg_level = kinds[k][0];
    h.cmsg_type = kinds[k][1];
    const size_t data = Below(3) == 0 ? Below(200) : (k < 2 ? 16 * (1 + Below(3)) : sizeof(struct sock_extended_err) + Below(32));
    h.cmsg_len = Below(6) == 0 ? static_cast<size_t>(Next() % 100000) : CMSG_LEN(data);
    memcpy(c + at, &h, sizeof h);
    if (Below(4) == 0) break;  // leave the rest random
    at += CMSG_ALIGN(CMSG_LEN(data));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned long iterations = argc > 1 ? strtoul(argv[1], nullptr, 10) : 200000;
  if (argc > 2) state ^= strtoull(argv[2], nullptr, 10) * 0x9E3779B97F4A7C15ULL;
  unsigned long strip = 0, frame4 = 0, frame6 = 0, rx = 0, ee = 0;
  for (unsigned long it = 0; it < iterations; it++) {
    const bool v6 = Below(2) == 0;
    const bool truncated = Below(4) == 0;
    const size_t n = PickLength(4200);
    uint8_t* p = static_cast<uint8_t*>(malloc(n == 0 ? 1 : n));
    uint8_t* end = p + n;
    ShapePacket(p, n, v6);

    size_t off = 0, len = 0;
    if (StripIpv4Header(p, n, truncated, &off, &len)) {
      if (off < 20 || off > n || len > n - off) abort();
      strip++;
      volatile uint8_t sink = len ? p[off + len - 1] : 0;
      (void)sink;
    }
    const uint8_t* dst = nullptr;
    if (FindIcmpInFrame(p, n, truncated, v6, &off, &len, &dst)) {
      if (off > n || len > n - off || dst < p || dst > end || static_cast<size_t>(end - dst) < (v6 ? 16u : 4u)) abort();
      (v6 ? frame6 : frame4)++;
      volatile uint8_t sink = static_cast<uint8_t>((len ? p[off + len - 1] : 0) ^ dst[v6 ? 15 : 3]);
      (void)sink;
    }
    free(p);

    const size_t cn = Below(8) == 0 ? 0 : PickLength(600);
    uint8_t* c = static_cast<uint8_t*>(malloc(cn == 0 ? 1 : cn));
    ShapeControl(c, cn);
    struct msghdr h;
    memset(&h, 0, sizeof h);
    h.msg_control = Below(16) == 0 ? nullptr : c;
    h.msg_controllen = h.msg_control ? cn : 0;
    struct timespec ts;
    if (RxStampFromCmsgs(&h, &ts)) rx++;
    ErrorCmsgs e;
    ParseErrorCmsgs(&h, &e);
    if (e.haveEe) ee++;
    uint8_t cell[16];
    CopyAddress(&e.offender, e.offenderLen, cell);
    free(c);

    struct sockaddr_in6 sa;
    Fill(reinterpret_cast<uint8_t*>(&sa), sizeof sa);
    if (Below(2)) sa.sin6_family = Below(2) ? AF_INET : AF_INET6;
    CopyAddress(&sa, Below(sizeof sa + 1), cell);
  }
  printf("ok %lu strip=%lu frame4=%lu frame6=%lu rx=%lu ee=%lu\n", iterations, strip, frame4, frame6, rx, ee);
  return 0;
}
