// netscan's ICMP socket addon: one raw or datagram ICMP socket (IPv4 or IPv6), batched with
// sendmmsg(2)/recvmmsg(2), kernel receive and transmit stamps, libuv-driven readiness.
// The TypeScript side is internal/icmp/native-socket.ts (the IcmpSocket seam in icmp-socket.ts).
//
// Written against the C Node-API (node_api.h, ABI-stable across node versions) rather than
// node-addon-api's C++ wrapper: the wrapper's headers alone took ~4 s of CPU to compile.
//
// Memory: every array JS sees is an ArrayBuffer created here once per socket; read(),
// readErrors() and flush() work on them in place, so the hot path makes one Node-API call per
// batch and allocates nothing. Everything the kernel returns is bounds-checked before use.
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <math.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "icmp_packet.h"

namespace {

using namespace netscan_icmp;

// <linux/icmp.h> clashes with glibc's <netinet/*> headers; the two constants we need:
constexpr int kSolRaw = 255;    // SOL_RAW
constexpr int kIcmpFilter = 1;  // ICMP_FILTER (struct icmp_filter { __u32 data; }: bit set = blocked)
#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33
#endif
#ifndef SO_SNDBUFFORCE
#define SO_SNDBUFFORCE 32
#endif
#ifndef SO_SELECT_ERR_QUEUE
#define SO_SELECT_ERR_QUEUE 45
#endif
#ifndef SOF_TIMESTAMPING_OPT_RX_FILTER
#define SOF_TIMESTAMPING_OPT_RX_FILTER (1 << 17)
#endif

constexpr uint32_t kTxRingSize = 4096;  // transmit copies kept for OPT_TSONLY mode (power of two)
constexpr uint32_t kTxCopyBytes = 24;   // ICMP header (8) + netscan's 16-byte payload stamp
constexpr size_t kCtrlBytes = 256;      // per-datagram control buffer: SCM_TIMESTAMPNS (+ SCM_TIMESTAMPING)
constexpr size_t kErrCtrlBytes = 512;   // + IP(V6)_RECVERR with an offender address
constexpr size_t kErrHeadroom = 128;    // link + IP headers in front of a transmit copy
constexpr size_t kIpv4MaxHeader = 60;
constexpr double kNaN = __builtin_nan("");

// Poll mask bits shared with native-socket.ts.
constexpr int kWantReadable = 1;
constexpr int kWantWritable = 2;

// Error-queue kinds (IcmpErrorKind in icmp-socket.ts).
constexpr uint8_t kKindTxStamp = 1;
constexpr uint8_t kKindIcmpError = 2;
constexpr uint8_t kKindOther = 3;

// Indices of the Int32Array `state` shared with JS (native-socket.ts names them).
enum StateIndex {
  kStateLastErrno = 0,    // errno of the datagram flush() stopped at; 0 when all went
  kStateMalformed = 1,    // datagrams read() dropped for a bad IPv4 header (raw IPv4)
  kStateTxFromRing = 2,   // transmit stamps whose copy came from the ring (no data from the kernel)
  kStateTxNoCopy = 3,     // transmit stamps with no copy at all
  kStateStaleErrors = 4,  // pending socket errors (sk_err) cleared or absorbed by a retry
  kStateCount = 5,
};

struct TxCopy {
  uint32_t key;
  uint8_t valid;
  uint8_t length;
  uint8_t pad[2];
  uint8_t dst[16];
  uint8_t icmp[kTxCopyBytes];
};

int64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// errnos an ICMP error leaves pending on a datagram socket (sk_err; icmp_err_convert and
// icmpv6_err_convert in the kernel): the next recv or send fails with it once.
bool IsIcmpErrno(int e) {
  switch (e) {
    case EHOSTUNREACH: case ENETUNREACH: case ECONNREFUSED: case EHOSTDOWN: case ENONET:
    case EPROTO: case EMSGSIZE: case EACCES: case ENOPROTOOPT: case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

// Send failures that happen after the kernel numbered the datagram for SOF_TIMESTAMPING_OPT_ID
// (measured: an nft OUTPUT drop's EPERM uses a key, and so does ENOBUFS, which a datagram socket
// gets when the device layer drops the packet: a full qdisc, an egress filter; ENETUNREACH from the
// route lookup and EAGAIN from a full send buffer do not). Only matters in OPT_TSONLY mode, for the ring.
bool SendErrnoUsesTxKey(int e) { return e == EPERM || e == ENOBUFS; }

struct Options {
  bool v6 = false;
  bool raw = true;
  int rcvbuf = 0;
  int tos = -1;
  int ttl = -1;
  char source[128] = {0};
  char ifname[IFNAMSIZ] = {0};
  uint32_t batch = 64;
  uint32_t slot = 2048;
  bool forceTsOnly = false;
  bool noSelectErrQueue = false;  // tests: leave error-queue readiness as a bare POLLERR
  int sndbuf = 0;                 // tests: SO_SNDBUF(FORCE), 0 keeps the default
  bool noStamps = false;          // benchmarks: no kernel stamps at all
};

// Why open failed: errno, the call, and what it was about.
struct OpenError {
  int err = 0;
  const char* syscall = "";
  char detail[192] = {0};
};

// One open socket and every buffer it needs. Exposed arrays are ArrayBuffers owned by the JS
// handle object; their memory is stable for the handle's life (V8 never moves backing stores).
struct Socket {
  napi_env env = nullptr;
  napi_ref wrapper = nullptr;   // weak; made strong while polling
  napi_ref dispatch = nullptr;  // (errno, events) => void
  napi_async_context async = nullptr;
  uv_poll_t* poll = nullptr;
  int mask = 0;
  bool refed = false;
  bool cleanupHook = false;

  int fd = -1;
  bool v6 = false;
  bool raw = true;
  uint32_t batch = 0;
  uint32_t slot = 0;
  int rcvbufGranted = 0;
  int identifier = -1;
  bool stamps = false;
  bool tsOnly = false;
  int64_t baseNs = 0;

  // Internal memory (never seen by JS), one block.
  void* block = nullptr;
  struct mmsghdr* smsg = nullptr;
  struct iovec* siov = nullptr;
  struct sockaddr_in6* sname = nullptr;
  struct mmsghdr* rmsg = nullptr;
  struct iovec* riov = nullptr;
  struct sockaddr_in6* rname = nullptr;
  uint8_t* rctrl = nullptr;
  uint8_t* rscratch = nullptr;  // raw IPv4: datagrams with their IP header, stripped into readData
  size_t rscratchSlot = 0;
  struct mmsghdr* emsg = nullptr;
  struct iovec* eiov = nullptr;
  struct sockaddr_in6* ename = nullptr;
  uint8_t* ectrl = nullptr;
  uint8_t* escratch = nullptr;
  size_t escratchSlot = 0;
  TxCopy* ring = nullptr;
  uint32_t nextTxKey = 0;

  // JS-visible arrays.
  uint8_t* sendData = nullptr;
  int32_t* sendLen = nullptr;
  uint8_t* sendAddr = nullptr;
  uint32_t* sendScope = nullptr;
  uint8_t* readData = nullptr;
  int32_t* readLen = nullptr;
  uint8_t* readSrc = nullptr;
  double* readRx = nullptr;
  uint8_t* errKind = nullptr;
  uint8_t* errData = nullptr;
  int32_t* errLen = nullptr;
  uint8_t* errDst = nullptr;
  uint8_t* errOff = nullptr;
  uint8_t* errType = nullptr;
  uint8_t* errCode = nullptr;
  double* errTx = nullptr;
  int32_t* state = nullptr;

  bool Open() const { return fd >= 0; }
};

// ---------------------------------------------------------------------------------------------
// Opening.

bool Fail(OpenError* e, int err, const char* syscall, const char* detail = "") {
  e->err = err;
  e->syscall = syscall;
  snprintf(e->detail, sizeof e->detail, "%s", detail);
  return false;
}

bool SetOpt(int fd, int level, int name, const void* value, socklen_t len, const char* what, OpenError* e) {
  if (setsockopt(fd, level, name, value, len) == 0) return true;
  return Fail(e, errno, "setsockopt", what);
}

bool SetIntOpt(int fd, int level, int name, int value, const char* what, OpenError* e) {
  return SetOpt(fd, level, name, &value, sizeof value, what, e);
}

// Carves the internal buffers out of one allocation.
bool AllocInternal(Socket* s, const Options& o, OpenError* e) {
  const size_t B = o.batch;
  s->rscratchSlot = (o.raw && !o.v6) ? o.slot + kIpv4MaxHeader : 0;
  s->escratchSlot = o.slot + kErrHeadroom;
  const size_t sizes[] = {
    sizeof(struct mmsghdr) * B, sizeof(struct iovec) * B, sizeof(struct sockaddr_in6) * B,  // send
    sizeof(struct mmsghdr) * B, sizeof(struct iovec) * B, sizeof(struct sockaddr_in6) * B,  // read
    kCtrlBytes * B, s->rscratchSlot * B,
    sizeof(struct mmsghdr) * B, sizeof(struct iovec) * B, sizeof(struct sockaddr_in6) * B,  // errors
    kErrCtrlBytes * B, s->escratchSlot * B,
    sizeof(TxCopy) * kTxRingSize,
  };
  size_t total = 0;
  for (size_t n : sizes) total += (n + 15) & ~size_t(15);
  uint8_t* p = static_cast<uint8_t*>(calloc(1, total));
  if (p == nullptr) return Fail(e, ENOMEM, "calloc");
  s->block = p;
  void** fields[] = {
    reinterpret_cast<void**>(&s->smsg), reinterpret_cast<void**>(&s->siov), reinterpret_cast<void**>(&s->sname),
    reinterpret_cast<void**>(&s->rmsg), reinterpret_cast<void**>(&s->riov), reinterpret_cast<void**>(&s->rname),
    reinterpret_cast<void**>(&s->rctrl), reinterpret_cast<void**>(&s->rscratch),
    reinterpret_cast<void**>(&s->emsg), reinterpret_cast<void**>(&s->eiov), reinterpret_cast<void**>(&s->ename),
    reinterpret_cast<void**>(&s->ectrl), reinterpret_cast<void**>(&s->escratch),
    reinterpret_cast<void**>(&s->ring),
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    *fields[i] = sizes[i] ? p : nullptr;
    p += (sizes[i] + 15) & ~size_t(15);
  }
  return true;
}

// Creates and configures the socket. On failure `e` says why and the fd is closed.
bool OpenSocket(Socket* s, const Options& o, OpenError* e) {
  s->v6 = o.v6;
  s->raw = o.raw;
  s->batch = o.batch;
  s->slot = o.slot;
  const int family = o.v6 ? AF_INET6 : AF_INET;
  const int proto = o.v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP);
  const int fd = socket(family, (o.raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return Fail(e, errno, "socket");
  s->fd = fd;
  bool ok = [&]() {
    // Receive buffer: SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF
    // is capped at rmem_max. Either way getsockopt says what we got.
    if (o.rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &o.rcvbuf, sizeof o.rcvbuf) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf, sizeof o.rcvbuf);
    }
    if (o.sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &o.sndbuf, sizeof o.sndbuf) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.sndbuf, sizeof o.sndbuf);
    }
    socklen_t ilen = sizeof s->rcvbufGranted;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &s->rcvbufGranted, &ilen) != 0) s->rcvbufGranted = 0;

    if (o.raw && !o.v6) {
      // Echo reply (0), destination unreachable (3), time exceeded (11) only: a raw socket
      // otherwise reads every ICMP message of the namespace, our own requests included.
      uint32_t blocked = ~((1u << 0) | (1u << 3) | (1u << 11));
      if (!SetOpt(fd, kSolRaw, kIcmpFilter, &blocked, sizeof blocked, "ICMP_FILTER", e)) return false;
    } else if (o.raw) {
      struct icmp6_filter f;
      ICMP6_FILTER_SETBLOCKALL(&f);
      ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
      ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
      ICMP6_FILTER_SETPASS(ICMP6_PACKET_TOO_BIG, &f);
      ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
      ICMP6_FILTER_SETPASS(ICMP6_PARAM_PROB, &f);
      if (!SetOpt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f, "ICMP6_FILTER", e)) return false;
    } else if (!o.v6) {
      // Without it an ICMP error for a datagram socket is dropped (or, if the socket were
      // connected, reported only as an errno).
      if (!SetIntOpt(fd, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR", e)) return false;
    } else {
      if (!SetIntOpt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR", e)) return false;
    }
    if (o.tos >= 0) {
      if (o.v6 ? !SetIntOpt(fd, IPPROTO_IPV6, IPV6_TCLASS, o.tos, "IPV6_TCLASS", e)
               : !SetIntOpt(fd, IPPROTO_IP, IP_TOS, o.tos, "IP_TOS", e)) return false;
    }
    if (o.ttl >= 0) {
      if (o.v6 ? !SetIntOpt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, o.ttl, "IPV6_UNICAST_HOPS", e)
               : !SetIntOpt(fd, IPPROTO_IP, IP_TTL, o.ttl, "IP_TTL", e)) return false;
    }
    if (o.ifname[0] != 0 &&
        !SetOpt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.ifname, static_cast<socklen_t>(strlen(o.ifname) + 1), "SO_BINDTODEVICE", e)) {
      return false;
    }
    // Datagram sockets are bound first: the kernel picks the port, which is the echo identifier
    // it writes into every request and filters replies by. Raw sockets bind only to a source.
    if (!o.raw || o.source[0] != 0) {
      struct sockaddr_in6 sa;
      memset(&sa, 0, sizeof sa);
      socklen_t salen = o.v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
      if (o.source[0] != 0) {
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = family;
        hints.ai_flags = AI_NUMERICHOST;
        struct addrinfo* res = nullptr;
        if (getaddrinfo(o.source, nullptr, &hints, &res) != 0 || res == nullptr || res->ai_addrlen > sizeof sa) {
          if (res != nullptr) freeaddrinfo(res);
          char d[192];
          snprintf(d, sizeof d, "source address %s is not an %s address", o.source, o.v6 ? "IPv6" : "IPv4");
          return Fail(e, EINVAL, "bind", d);
        }
        memcpy(&sa, res->ai_addr, res->ai_addrlen);
        salen = res->ai_addrlen;
        freeaddrinfo(res);
      } else {
        sa.sin6_family = static_cast<sa_family_t>(family);
      }
      if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), salen) != 0) return Fail(e, errno, "bind", o.source);
    }
    if (!o.raw) {
      struct sockaddr_in6 sa;
      socklen_t salen = sizeof sa;
      memset(&sa, 0, sizeof sa);
      if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &salen) != 0) return Fail(e, errno, "getsockname");
      s->identifier = o.v6 ? ntohs(sa.sin6_port) : ntohs(reinterpret_cast<struct sockaddr_in*>(&sa)->sin_port);
    }

    // Readiness: with SO_SELECT_ERR_QUEUE an error-queue entry polls as POLLERR|POLLPRI, which
    // libuv reports as UV_PRIORITIZED; a bare POLLERR makes uv_poll stop with UV_EBADF (handled
    // in OnPoll all the same).
    int one = 1;
    if (!o.noSelectErrQueue) setsockopt(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, &one, sizeof one);

    // Kernel stamps. Transmit copies carry the datagram as sent (after link and IP headers),
    // except where net.core.tstamp_allow_data is 0: there only OPT_TSONLY stamps come to
    // unprivileged sockets, and the ring supplies the copy.
    bool tsOnly = o.forceTsOnly;
    if (!tsOnly) {
      int f = open("/proc/sys/net/core/tstamp_allow_data", O_RDONLY | O_CLOEXEC);
      if (f >= 0) {
        char b[8] = {0};
        ssize_t n = read(f, b, sizeof b - 1);
        if (n > 0 && b[0] == '0') tsOnly = true;
        close(f);
      }
    }
    if (o.noStamps) {
      s->baseNs = RealtimeNs();
      return AllocInternal(s, o, e);
    }
    bool rxOk = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
    int tsflags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID;
    if (tsOnly) tsflags |= SOF_TIMESTAMPING_OPT_TSONLY;
    // OPT_RX_FILTER (Linux 6.2+) spares a second receive stamp (SCM_TIMESTAMPING) per datagram.
    int withFilter = tsflags | SOF_TIMESTAMPING_OPT_RX_FILTER;
    bool txOk = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &withFilter, sizeof withFilter) == 0 ||
                setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &tsflags, sizeof tsflags) == 0;
    s->stamps = rxOk && txOk;
    s->tsOnly = tsOnly;
    s->baseNs = RealtimeNs();
    return AllocInternal(s, o, e);
  }();
  if (!ok) {
    close(fd);
    s->fd = -1;
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Packet helpers.

double StampOf(const struct timespec& ts, int64_t base) {
  if (ts.tv_sec == 0 && ts.tv_nsec == 0) return kNaN;
  return static_cast<double>(static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec - base);
}

// getsockopt(SO_ERROR) reads and clears a pending socket error (sk_err). In datagram mode every
// ICMP error sets one besides queueing its entry, and it would fail the next send to any host,
// or the next read, once; the error-queue entry is what reports it.
void ClearPendingError(Socket* s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) s->state[kStateStaleErrors]++;
}

// Moves send slots [from, count) to [0, count - from), in order.
void MoveSendSlots(Socket* s, uint32_t from, uint32_t count) {
  if (from == 0 || from >= count) return;
  const uint32_t rest = count - from;
  const size_t S = s->slot;
  memmove(s->sendData, s->sendData + from * S, rest * S);
  memmove(s->sendLen, s->sendLen + from, rest * sizeof(int32_t));
  memmove(s->sendAddr, s->sendAddr + from * 16, rest * 16);
  memmove(s->sendScope, s->sendScope + from, rest * sizeof(uint32_t));
}

void RecordTx(Socket* s, uint32_t i) {
  TxCopy& t = s->ring[s->nextTxKey & (kTxRingSize - 1)];
  t.key = s->nextTxKey++;
  t.valid = 1;
  const size_t len = s->siov[i].iov_len < kTxCopyBytes ? s->siov[i].iov_len : kTxCopyBytes;
  t.length = static_cast<uint8_t>(len);
  memcpy(t.icmp, s->siov[i].iov_base, len);
  memcpy(t.dst, s->sendAddr + size_t(i) * 16, 16);
  if (!s->raw && len >= 6) {  // the kernel writes the socket's identifier into datagram requests
    t.icmp[4] = static_cast<uint8_t>(s->identifier >> 8);
    t.icmp[5] = static_cast<uint8_t>(s->identifier);
  }
}

// Sends slots [0, count); returns how many went. Unsent ones move to the front;
// state[kStateLastErrno] is the errno of the first unsent one (0 when all went).
uint32_t Flush(Socket* s, uint32_t count) {
  s->state[kStateLastErrno] = 0;
  if (!s->Open()) {
    if (count > 0) s->state[kStateLastErrno] = EBADF;
    return 0;
  }
  const uint32_t S = s->slot;
  for (uint32_t i = 0; i < count; i++) {
    struct sockaddr_in6* sa = &s->sname[i];
    memset(sa, 0, sizeof *sa);
    const uint8_t* a = s->sendAddr + size_t(i) * 16;
    if (s->v6) {
      sa->sin6_family = AF_INET6;
      memcpy(&sa->sin6_addr, a, 16);
      sa->sin6_scope_id = s->sendScope[i];
      s->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    } else {
      struct sockaddr_in* s4 = reinterpret_cast<struct sockaddr_in*>(sa);
      s4->sin_family = AF_INET;
      memcpy(&s4->sin_addr, a, 4);
      s->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    }
    int32_t len = s->sendLen[i];
    if (len < 0) len = 0;
    if (static_cast<uint32_t>(len) > S) len = static_cast<int32_t>(S);
    s->siov[i].iov_len = static_cast<size_t>(len);
    s->smsg[i].msg_len = 0;
  }
  uint32_t sent = 0;
  int retries = 0;
  // sendmmsg stops at a datagram that fails without saying why (the errno is lost when some went
  // before it): the next call tries that datagram again, so it has been attempted once already.
  bool attempted = false;
  if (!s->raw && count > 0) ClearPendingError(s);
  // In OPT_TSONLY mode the ring must know which failures used a key, and a transient one (ENOBUFS)
  // that sendmmsg stopped at silently may well go out on the retry: there, one datagram per call,
  // so every failure comes with its errno.
  const uint32_t most = s->tsOnly ? 1 : count;
  while (sent < count) {
    const uint32_t left = count - sent;
    int r = sendmmsg(s->fd, s->smsg + sent, left < most ? left : most, MSG_DONTWAIT);
    if (r > 0) {
      for (int k = 0; k < r; k++) RecordTx(s, sent + static_cast<uint32_t>(k));
      sent += static_cast<uint32_t>(r);
      attempted = !s->tsOnly && sent < count;
      continue;
    }
    if (r == 0) break;
    const int e = errno;
    if (e == EINTR) continue;
    // A failure that numbered the datagram did so on each attempt (assume the unseen one failed alike).
    if (SendErrnoUsesTxKey(e)) s->nextTxKey += attempted ? 2 : 1;
    attempted = false;
    // Datagram mode: an ICMP error that arrived since the last send left sk_err set and this send
    // failed with it instead of going out. That consumed it, so a retry tells which it was.
    if (!s->raw && retries < 2 && IsIcmpErrno(e)) {
      retries++;
      s->state[kStateStaleErrors]++;
      continue;
    }
    s->state[kStateLastErrno] = e;
    break;
  }
  MoveSendSlots(s, sent, count);
  return sent;
}

double RxStamp(const Socket* s, const struct msghdr* h) {
  struct timespec ts;
  return RxStampFromCmsgs(h, &ts) ? StampOf(ts, s->baseNs) : kNaN;
}

// Reads up to `batch` datagrams; returns how many landed in the read batch, or -errno.
int Read(Socket* s) {
  if (!s->Open()) return 0;
  const uint32_t B = s->batch;
  const size_t S = s->slot;
  uint32_t out = 0;
  int stale = 0;
  // A batch of nothing but malformed datagrams (raw IPv4) is skipped, a few times at most.
  for (int round = 0; round < 8 && out == 0; round++) {
    for (uint32_t i = 0; i < B; i++) {
      struct msghdr& h = s->rmsg[i].msg_hdr;
      h.msg_name = &s->rname[i];
      h.msg_namelen = sizeof(struct sockaddr_in6);
      h.msg_control = s->rctrl + size_t(i) * kCtrlBytes;
      h.msg_controllen = kCtrlBytes;
      h.msg_flags = 0;
      s->rmsg[i].msg_len = 0;
    }
    int r = recvmmsg(s->fd, s->rmsg, B, MSG_DONTWAIT, nullptr);
    if (r < 0) {
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      // EINTR, or a pending sk_err this call consumed (datagram mode): read on.
      if ((e == EINTR || IsIcmpErrno(e)) && stale++ < 8) {
        if (e != EINTR) s->state[kStateStaleErrors]++;
        round--;
        continue;
      }
      return -e;
    }
    for (int i = 0; i < r; i++) {
      struct msghdr& h = s->rmsg[i].msg_hdr;
      size_t n = s->rmsg[i].msg_len;
      const bool truncated = (h.msg_flags & MSG_TRUNC) != 0;
      uint8_t* slot = s->readData + out * S;
      if (s->rscratch != nullptr) {
        // Raw IPv4 delivers the IP header: check it and strip it.
        if (n > s->rscratchSlot) n = s->rscratchSlot;
        const uint8_t* p = s->rscratch + size_t(i) * s->rscratchSlot;
        size_t off = 0, len = 0;
        if (!StripIpv4Header(p, n, truncated, &off, &len)) {
          s->state[kStateMalformed]++;
          continue;
        }
        if (len > S) len = S;
        memcpy(slot, p + off, len);
        s->readLen[out] = static_cast<int32_t>(len);
      } else {
        if (n > S) n = S;
        if (static_cast<uint32_t>(i) != out) memmove(slot, s->readData + size_t(i) * S, n);
        s->readLen[out] = static_cast<int32_t>(n);
      }
      CopyAddress(&s->rname[i], h.msg_namelen, s->readSrc + size_t(out) * 16);
      s->readRx[out] = RxStamp(s, &h);
      out++;
    }
    if (static_cast<uint32_t>(r) < B) break;
  }
  return static_cast<int>(out);
}

void ParseErrorEntry(Socket* s, uint32_t i) {
  const size_t S = s->slot;
  struct msghdr& h = s->emsg[i].msg_hdr;
  size_t n = s->emsg[i].msg_len;
  if (n > s->escratchSlot) n = s->escratchSlot;
  const bool truncated = (h.msg_flags & MSG_TRUNC) != 0;
  const uint8_t* buf = s->escratch + size_t(i) * s->escratchSlot;
  uint8_t* data = s->errData + i * S;
  uint8_t* dst = s->errDst + size_t(i) * 16;
  uint8_t* off = s->errOff + size_t(i) * 16;
  s->errKind[i] = kKindOther;
  s->errLen[i] = 0;
  s->errType[i] = 0;
  s->errCode[i] = 0;
  s->errTx[i] = kNaN;
  memset(dst, 0, 16);
  memset(off, 0, 16);

  ErrorCmsgs cm;
  ParseErrorCmsgs(&h, &cm);
  if (!cm.haveEe) return;
  const struct sock_extended_err& ee = cm.ee;
  if (ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING) {
    s->errKind[i] = kKindTxStamp;
    if (cm.haveTsing) s->errTx[i] = StampOf(cm.tsing, s->baseNs);
    else if (cm.haveTsns) s->errTx[i] = StampOf(cm.tsns, s->baseNs);
    size_t icmpOff = 0, icmpLen = 0;
    const uint8_t* ipDst = nullptr;
    if (n > 0 && FindIcmpInFrame(buf, n, truncated, s->v6, &icmpOff, &icmpLen, &ipDst)) {
      if (icmpLen > S) icmpLen = S;
      memcpy(data, buf + icmpOff, icmpLen);
      s->errLen[i] = static_cast<int32_t>(icmpLen);
      memcpy(dst, ipDst, s->v6 ? 16 : 4);
      return;
    }
    const TxCopy& t = s->ring[ee.ee_data & (kTxRingSize - 1)];
    if (t.valid && t.key == ee.ee_data) {
      memcpy(data, t.icmp, t.length);
      s->errLen[i] = t.length;
      memcpy(dst, t.dst, 16);
      s->state[kStateTxFromRing]++;
    } else {
      s->state[kStateTxNoCopy]++;
    }
    return;
  }
  if (ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6) {
    s->errKind[i] = kKindIcmpError;
    s->errType[i] = ee.ee_type;
    s->errCode[i] = ee.ee_code;
    // The payload is the datagram we sent, from its ICMP header on (as much as the error quoted).
    const size_t len = n < S ? n : S;
    memcpy(data, buf, len);
    s->errLen[i] = static_cast<int32_t>(len);
    CopyAddress(&s->ename[i], h.msg_namelen, dst);
    CopyAddress(&cm.offender, cm.offenderLen, off);
  }
}

// Reads up to `batch` error-queue entries; returns how many, or -errno.
int ReadErrors(Socket* s) {
  if (!s->Open()) return 0;
  const uint32_t B = s->batch;
  for (uint32_t i = 0; i < B; i++) {
    struct msghdr& h = s->emsg[i].msg_hdr;
    h.msg_name = &s->ename[i];
    h.msg_namelen = sizeof(struct sockaddr_in6);
    h.msg_control = s->ectrl + size_t(i) * kErrCtrlBytes;
    h.msg_controllen = kErrCtrlBytes;
    h.msg_flags = 0;
    s->emsg[i].msg_len = 0;
  }
  int r;
  do {
    r = recvmmsg(s->fd, s->emsg, B, MSG_ERRQUEUE | MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    const int e = errno;
    if (e != EAGAIN && e != EWOULDBLOCK) return -e;
    r = 0;
  }
  // Drained: clear an sk_err whose entry could not be queued (receive buffer full), which would
  // otherwise keep the socket polling as failed and fail one send.
  if (!s->raw && static_cast<uint32_t>(r) < B) ClearPendingError(s);
  for (int i = 0; i < r; i++) ParseErrorEntry(s, static_cast<uint32_t>(i));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Node-API glue.

struct AddonData {
  napi_ref ctor = nullptr;
};

// Holds a freshly opened Socket until the constructor adopts it (then `socket` is null).
struct Holder {
  Socket* socket = nullptr;
};

void ThrowErrno(napi_env env, int err, const char* syscall, const char* detail = "") {
  char msg[320];
  snprintf(msg, sizeof msg, "%s%s%s: %s", syscall, detail[0] ? " " : "", detail, strerror(err));
  napi_value m, e, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, nullptr, m, &e);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  if (detail[0]) {
    napi_create_string_utf8(env, detail, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, e, "detail", v);
  }
  napi_throw(env, e);
}

// While polling, the handle and the dispatch function (which holds the JS socket and its
// callbacks) are strong references, so a socket nobody else references keeps working; otherwise
// both are weak and an unreachable socket is collected (and its fd closed by Finalize).
void SetRef(Socket* s, bool on) {
  if (on == s->refed || s->wrapper == nullptr) return;
  s->refed = on;
  uint32_t count;
  if (on) {
    napi_reference_ref(s->env, s->wrapper, &count);
    if (s->dispatch != nullptr) napi_reference_ref(s->env, s->dispatch, &count);
  } else {
    napi_reference_unref(s->env, s->wrapper, &count);
    if (s->dispatch != nullptr) napi_reference_unref(s->env, s->dispatch, &count);
  }
}

void EnvCleanup(void* arg);

// Stops polling and closes the fd. From JS (close()) it also drops the callback and the strong
// self reference, so a closed socket keeps neither the event loop nor the engine alive.
void Shutdown(Socket* s, bool fromJs) {
  if (s->poll != nullptr) {
    uv_poll_stop(s->poll);
    s->poll->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(s->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    s->poll = nullptr;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  if (s->cleanupHook) {
    napi_remove_env_cleanup_hook(s->env, EnvCleanup, s);
    s->cleanupHook = false;
  }
  if (fromJs) {
    SetRef(s, false);
    if (s->dispatch != nullptr) {
      napi_delete_reference(s->env, s->dispatch);
      s->dispatch = nullptr;
    }
  }
}

void EnvCleanup(void* arg) {
  Socket* s = static_cast<Socket*>(arg);
  s->cleanupHook = false;
  Shutdown(s, false);
}

void Finalize(napi_env env, void* data, void*) {
  Socket* s = static_cast<Socket*>(data);
  Shutdown(s, false);
  if (s->dispatch != nullptr) napi_delete_reference(env, s->dispatch);
  if (s->wrapper != nullptr) napi_delete_reference(env, s->wrapper);
  if (s->async != nullptr) napi_async_destroy(env, s->async);
  free(s->block);
  delete s;
}

int UvEvents(int mask) {
  return ((mask & kWantReadable) ? (UV_READABLE | UV_PRIORITIZED) : 0) | ((mask & kWantWritable) ? UV_WRITABLE : 0);
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Socket* s = static_cast<Socket*>(handle->data);
  if (s == nullptr || !s->Open() || s->dispatch == nullptr) return;
  if (status == UV_EBADF && fcntl(s->fd, F_GETFD) != -1) {
    // libuv reports a bare POLLERR (an error-queue entry without SO_SELECT_ERR_QUEUE's POLLPRI)
    // as UV_EBADF and stops the handle: the socket is fine, so re-arm and report it readable.
    if (uv_poll_start(handle, UvEvents(s->mask), OnPoll) == 0) {
      status = 0;
      events = UV_READABLE;
    }
  }
  int ours = 0;
  if (events & (UV_READABLE | UV_PRIORITIZED)) ours |= kWantReadable;
  if (events & UV_WRITABLE) ours |= kWantWritable;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self, fn, argv[2], result;
  if (napi_get_reference_value(env, s->wrapper, &self) == napi_ok && self != nullptr &&
      napi_get_reference_value(env, s->dispatch, &fn) == napi_ok && fn != nullptr) {
    napi_create_int32(env, status < 0 ? -status : 0, &argv[0]);
    napi_create_int32(env, ours, &argv[1]);
    if (napi_make_callback(env, s->async, self, fn, 2, argv, &result) != napi_ok) {
      // The callback threw: report it like any event-loop callback would (uncaughtException).
      bool pending = false;
      napi_value exc;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
        napi_fatal_exception(env, exc);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

Socket* Unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  if (napi_get_cb_info(env, info, argc, argv, &self, nullptr) != napi_ok) return nullptr;
  void* p = nullptr;
  if (napi_unwrap(env, self, &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, nullptr, "not a NativeIcmpHandle");
    return nullptr;
  }
  return static_cast<Socket*>(p);
}

napi_value Int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

uint32_t CountArg(napi_env env, Socket* s, napi_value v) {
  int64_t n = 0;
  if (napi_get_value_int64(env, v, &n) != napi_ok) n = 0;
  if (n < 0) n = 0;
  if (n > s->batch) n = s->batch;
  return static_cast<uint32_t>(n);
}

// flush(count) -> sent
napi_value JsFlush(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (s == nullptr) return nullptr;
  return Int(env, Flush(s, argc > 0 ? CountArg(env, s, argv[0]) : 0));
}

// discard(count): drops slot 0 of `count` queued datagrams.
napi_value JsDiscard(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (s == nullptr) return nullptr;
  if (argc > 0) MoveSendSlots(s, 1, CountArg(env, s, argv[0]));
  return nullptr;
}

napi_value JsRead(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (s == nullptr) return nullptr;
  int r = Read(s);
  if (r < 0) {
    ThrowErrno(env, -r, "recvmmsg");
    return nullptr;
  }
  return Int(env, r);
}

napi_value JsReadErrors(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (s == nullptr) return nullptr;
  int r = ReadErrors(s);
  if (r < 0) {
    ThrowErrno(env, -r, "recvmmsg", "(MSG_ERRQUEUE)");
    return nullptr;
  }
  return Int(env, r);
}

// poll(mask): kWantReadable (datagrams or error-queue entries) | kWantWritable; 0 stops.
napi_value JsPoll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (s == nullptr) return nullptr;
  int32_t mask = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &mask) != napi_ok) {
    napi_throw_type_error(env, nullptr, "poll(mask): mask must be a number");
    return nullptr;
  }
  mask &= kWantReadable | kWantWritable;
  if (!s->Open()) return nullptr;
  s->mask = mask;
  if (mask == 0) {
    if (s->poll != nullptr) uv_poll_stop(s->poll);
    SetRef(s, false);
    return nullptr;
  }
  if (s->poll == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      napi_throw_error(env, nullptr, "no libuv event loop");
      return nullptr;
    }
    uv_poll_t* p = new uv_poll_t;
    int rc = uv_poll_init(loop, p, s->fd);
    if (rc != 0) {
      delete p;
      ThrowErrno(env, -rc, "uv_poll_init");
      return nullptr;
    }
    p->data = s;
    s->poll = p;
  }
  int rc = uv_poll_start(s->poll, UvEvents(mask), OnPoll);
  if (rc != 0) {
    ThrowErrno(env, -rc, "uv_poll_start");
    return nullptr;
  }
  SetRef(s, true);
  return nullptr;
}

napi_value JsClose(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (s == nullptr) return nullptr;
  Shutdown(s, true);
  return nullptr;
}

// now(): CLOCK_REALTIME on the socket's stamp scale (ns since the socket opened).
// acceptNonce(hi, lo): raw sockets only (a datagram socket gets only its own replies). Every raw
// ICMP socket of the namespace is handed a copy of every echo reply; this classic BPF filter drops,
// before they are queued or wake the reader, the replies whose payload does not start with the
// engine's nonce: another engine's (the sweep's beside the probe thread's, another shard's) or
// another program's. Errors (unreachable, time exceeded) and other types still pass.
napi_value JsAcceptNonce(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (s == nullptr) return nullptr;
  uint32_t hi = 0, lo = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &hi) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &lo) != napi_ok) {
    napi_throw_type_error(env, nullptr, "acceptNonce(hi, lo): two 32-bit numbers");
    return nullptr;
  }
  if (!s->raw || !s->Open()) return nullptr;
  // IPv4 raw sockets see the IP header (X = its length); IPv6 ones start at the ICMPv6 header.
  struct sock_filter code[] = {
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                                   // X = 4 * (IHL)
      BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),                                    // A = ICMP type
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, s->v6 ? 129u : 0u, 0, 4),             // not an echo reply: accept
      BPF_STMT(BPF_LD | BPF_W | BPF_IND, 8),                                    // payload bytes 0..3
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_IND, 12),                                   // payload bytes 4..7
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),                                   // accept whole
      BPF_STMT(BPF_RET | BPF_K, 0),                                             // drop
  };
  const struct sock_filter noIpHeader = BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, 0);  // X = 0
  if (s->v6) code[0] = noIpHeader;
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
    ThrowErrno(env, errno, "setsockopt", "(SO_ATTACH_FILTER)");
    return nullptr;
  }
  return nullptr;
}

napi_value JsNow(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (s == nullptr) return nullptr;
  napi_value out;
  napi_create_double(env, static_cast<double>(RealtimeNs() - s->baseNs), &out);
  return out;
}

bool NewArray(napi_env env, napi_value self, const char* name, size_t bytes, void** data) {
  napi_value ab;
  if (napi_create_arraybuffer(env, bytes == 0 ? 1 : bytes, data, &ab) != napi_ok) return false;
  memset(*data, 0, bytes == 0 ? 1 : bytes);
  return napi_set_named_property(env, self, name, ab) == napi_ok;
}

bool SetNumber(napi_env env, napi_value self, const char* name, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, self, name, n) == napi_ok;
}

// new NativeIcmpHandle(holder, dispatch): only open() calls it.
napi_value JsConstruct(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, nullptr) != napi_ok) return nullptr;
  void* hp = nullptr;
  napi_valuetype t0, t1;
  if (argc < 2 || napi_typeof(env, argv[0], &t0) != napi_ok || t0 != napi_external || napi_typeof(env, argv[1], &t1) != napi_ok ||
      t1 != napi_function || napi_get_value_external(env, argv[0], &hp) != napi_ok || static_cast<Holder*>(hp)->socket == nullptr) {
    napi_throw_type_error(env, nullptr, "NativeIcmpHandle is created by open()");
    return nullptr;
  }
  Socket* s = static_cast<Holder*>(hp)->socket;
  const size_t B = s->batch, S = s->slot;
  void* p;
  bool ok = SetNumber(env, self, "fd", s->fd) && SetNumber(env, self, "rcvbufBytes", s->rcvbufGranted) &&
            SetNumber(env, self, "identifier", s->identifier) && SetNumber(env, self, "kernelStamps", s->stamps ? 1 : 0) &&
            SetNumber(env, self, "tsOnly", s->tsOnly ? 1 : 0) && SetNumber(env, self, "batchSize", static_cast<double>(B)) &&
            SetNumber(env, self, "slotBytes", static_cast<double>(S));
#define ARRAY(name, bytes, field, type) \
  ok = ok && NewArray(env, self, name, bytes, &p) && ((s->field = static_cast<type>(p)), true)
  ARRAY("sendData", B * S, sendData, uint8_t*);
  ARRAY("sendLength", B * 4, sendLen, int32_t*);
  ARRAY("sendAddress", B * 16, sendAddr, uint8_t*);
  ARRAY("sendScope", B * 4, sendScope, uint32_t*);
  ARRAY("readData", B * S, readData, uint8_t*);
  ARRAY("readLength", B * 4, readLen, int32_t*);
  ARRAY("readSource", B * 16, readSrc, uint8_t*);
  ARRAY("readRxNs", B * 8, readRx, double*);
  ARRAY("errKind", B, errKind, uint8_t*);
  ARRAY("errData", B * S, errData, uint8_t*);
  ARRAY("errLength", B * 4, errLen, int32_t*);
  ARRAY("errDestination", B * 16, errDst, uint8_t*);
  ARRAY("errOffender", B * 16, errOff, uint8_t*);
  ARRAY("errType", B, errType, uint8_t*);
  ARRAY("errCode", B, errCode, uint8_t*);
  ARRAY("errTxNs", B * 8, errTx, double*);
  ARRAY("state", kStateCount * 4, state, int32_t*);
#undef ARRAY
  napi_value name;
  ok = ok && napi_create_string_utf8(env, "netscan:icmp-socket", NAPI_AUTO_LENGTH, &name) == napi_ok &&
       napi_async_init(env, nullptr, name, &s->async) == napi_ok && napi_create_reference(env, argv[1], 0, &s->dispatch) == napi_ok;
  if (!ok) {
    if (s->async != nullptr) napi_async_destroy(env, s->async);
    if (s->dispatch != nullptr) napi_delete_reference(env, s->dispatch);
    s->async = nullptr;
    s->dispatch = nullptr;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, nullptr, "cannot set up the ICMP socket handle");
    return nullptr;
  }
  for (uint32_t i = 0; i < B; i++) {
    s->siov[i].iov_base = s->sendData + size_t(i) * S;
    s->smsg[i].msg_hdr.msg_name = &s->sname[i];
    s->smsg[i].msg_hdr.msg_iov = &s->siov[i];
    s->smsg[i].msg_hdr.msg_iovlen = 1;
    if (s->rscratch != nullptr) {
      s->riov[i].iov_base = s->rscratch + size_t(i) * s->rscratchSlot;
      s->riov[i].iov_len = s->rscratchSlot;
    } else {
      s->riov[i].iov_base = s->readData + size_t(i) * S;
      s->riov[i].iov_len = S;
    }
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
    s->eiov[i].iov_base = s->escratch + size_t(i) * s->escratchSlot;
    s->eiov[i].iov_len = s->escratchSlot;
    s->emsg[i].msg_hdr.msg_iov = &s->eiov[i];
    s->emsg[i].msg_hdr.msg_iovlen = 1;
  }
  s->env = env;
  if (napi_wrap(env, self, s, Finalize, nullptr, &s->wrapper) != napi_ok) {
    napi_async_destroy(env, s->async);
    napi_delete_reference(env, s->dispatch);
    s->async = nullptr;
    s->dispatch = nullptr;
    napi_throw_error(env, nullptr, "cannot wrap the ICMP socket handle");
    return nullptr;
  }
  static_cast<Holder*>(hp)->socket = nullptr;  // adopted: the finalizer frees it
  if (napi_add_env_cleanup_hook(env, EnvCleanup, s) == napi_ok) s->cleanupHook = true;
  return self;
}

// Option readers: false (with a JS exception pending) on a bad value.
bool GetProp(napi_env env, napi_value o, const char* key, napi_value* v, napi_valuetype* t) {
  return napi_get_named_property(env, o, key, v) == napi_ok && napi_typeof(env, *v, t) == napi_ok;
}

bool IntOpt(napi_env env, napi_value o, const char* key, int lo, int hi, int* out) {
  napi_value v;
  napi_valuetype t;
  if (!GetProp(env, o, key, &v, &t)) return false;
  if (t == napi_undefined || t == napi_null) return true;
  double d;
  if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok || !(d >= lo && d <= hi) || floor(d) != d) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an integer in %d..%d", key, lo, hi);
    napi_throw_range_error(env, nullptr, msg);
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool StrOpt(napi_env env, napi_value o, const char* key, char* out, size_t cap) {
  napi_value v;
  napi_valuetype t;
  if (!GetProp(env, o, key, &v, &t)) return false;
  if (t == napi_undefined || t == napi_null) return true;
  size_t len = 0;
  if (t != napi_string || napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok || len + 1 > cap) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a string of at most %zu bytes", key, cap - 1);
    napi_throw_range_error(env, nullptr, msg);
    return false;
  }
  napi_get_value_string_utf8(env, v, out, cap, &len);
  if (strlen(out) != len) {  // embedded NUL
    napi_throw_range_error(env, nullptr, "option strings may not contain NUL");
    return false;
  }
  return true;
}

bool BoolOpt(napi_env env, napi_value o, const char* key, bool* out) {
  napi_value v, b;
  napi_valuetype t;
  if (!GetProp(env, o, key, &v, &t)) return false;
  return napi_coerce_to_bool(env, v, &b) == napi_ok && napi_get_value_bool(env, b, out) == napi_ok;
}

// open({ family: 4|6, raw, rcvbuf, tos, ttl, source, ifname, batch, slot, tsOnly }, dispatch)
napi_value JsOpen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 2) {
    napi_typeof(env, argv[0], &t0);
    napi_typeof(env, argv[1], &t1);
  }
  if (t0 != napi_object || t1 != napi_function) {
    napi_throw_type_error(env, nullptr, "open(options, dispatch)");
    return nullptr;
  }
  Options o;
  int family = 4, batch = 64, slot = 2048;
  if (!IntOpt(env, argv[0], "family", 4, 6, &family)) return nullptr;
  if (family == 5) {
    napi_throw_range_error(env, nullptr, "family must be 4 or 6");
    return nullptr;
  }
  o.v6 = family == 6;
  if (!BoolOpt(env, argv[0], "raw", &o.raw) || !IntOpt(env, argv[0], "rcvbuf", 0, 0x7fffffff, &o.rcvbuf) ||
      !IntOpt(env, argv[0], "tos", -1, 255, &o.tos) || !IntOpt(env, argv[0], "ttl", -1, 255, &o.ttl) ||
      !StrOpt(env, argv[0], "source", o.source, sizeof o.source) || !StrOpt(env, argv[0], "ifname", o.ifname, sizeof o.ifname) ||
      !IntOpt(env, argv[0], "batch", 1, 1024, &batch) || !IntOpt(env, argv[0], "slot", 64, 65536, &slot) ||
      !BoolOpt(env, argv[0], "tsOnly", &o.forceTsOnly) || !BoolOpt(env, argv[0], "noSelectErrQueue", &o.noSelectErrQueue) ||
      !IntOpt(env, argv[0], "sndbuf", 0, 0x7fffffff, &o.sndbuf) || !BoolOpt(env, argv[0], "noStamps", &o.noStamps)) {
    return nullptr;
  }
  o.batch = static_cast<uint32_t>(batch);
  o.slot = static_cast<uint32_t>(slot);

  Socket* s = new Socket();
  OpenError err;
  if (!OpenSocket(s, o, &err)) {
    free(s->block);
    delete s;
    ThrowErrno(env, err.err, err.syscall, err.detail);
    return nullptr;
  }
  AddonData* data = nullptr;
  napi_value ctor, handle = nullptr, external;
  Holder holder;
  holder.socket = s;
  if (napi_get_instance_data(env, reinterpret_cast<void**>(&data)) == napi_ok && data != nullptr &&
      napi_get_reference_value(env, data->ctor, &ctor) == napi_ok && napi_create_external(env, &holder, nullptr, nullptr, &external) == napi_ok) {
    napi_value args[2] = {external, argv[1]};
    if (napi_new_instance(env, ctor, 2, args, &handle) != napi_ok) handle = nullptr;
  }
  if (holder.socket != nullptr) {  // not adopted
    Shutdown(holder.socket, false);
    free(holder.socket->block);
    delete holder.socket;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, nullptr, "cannot create the ICMP socket handle");
    return nullptr;
  }
  return handle;
}

// ifIndex(name): the interface index for an IPv6 %zone; 0 when there is none.
napi_value JsIfIndex(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    return Int(env, 0);
  }
  return Int(env, if_nametoindex(name));
}

void FreeAddonData(napi_env env, void* data, void*) {
  AddonData* d = static_cast<AddonData*>(data);
  if (d->ctor != nullptr) napi_delete_reference(env, d->ctor);
  delete d;
}

}  // namespace

NAPI_MODULE_INIT() {
  // Never unload this library: a worker thread's environment unloads its addons before its event
  // loop runs the close callbacks of handles closed during teardown (ours included).
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&JsOpen), &self) != 0 && self.dli_fname != nullptr) {
    dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
  }
  napi_property_descriptor methods[] = {
    {"flush", nullptr, JsFlush, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"discard", nullptr, JsDiscard, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"read", nullptr, JsRead, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"readErrors", nullptr, JsReadErrors, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"poll", nullptr, JsPoll, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"close", nullptr, JsClose, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"now", nullptr, JsNow, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"acceptNonce", nullptr, JsAcceptNonce, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls, open, ifindex;
  AddonData* data = new AddonData();
  if (napi_define_class(env, "NativeIcmpHandle", NAPI_AUTO_LENGTH, JsConstruct, nullptr, sizeof methods / sizeof methods[0], methods, &cls) != napi_ok ||
      napi_create_reference(env, cls, 1, &data->ctor) != napi_ok || napi_set_instance_data(env, data, FreeAddonData, nullptr) != napi_ok ||
      napi_create_function(env, "open", NAPI_AUTO_LENGTH, JsOpen, nullptr, &open) != napi_ok ||
      napi_create_function(env, "ifIndex", NAPI_AUTO_LENGTH, JsIfIndex, nullptr, &ifindex) != napi_ok ||
      napi_set_named_property(env, exports, "open", open) != napi_ok || napi_set_named_property(env, exports, "ifIndex", ifindex) != napi_ok) {
    return nullptr;
  }
  return exports;
}
