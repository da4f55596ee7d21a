// Pure parsing for the ICMP socket addon: what the kernel hands back (IPv4 headers on raw IPv4
// reads, link + IP headers in transmit copies, control messages) is checked here before any byte
// of it is used. No Node-API here, so test/fuzz_parse.cc can run it under ASan/UBSan.
#ifndef NETSCAN_ICMP_PACKET_H_
#define NETSCAN_ICMP_PACKET_H_

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

namespace netscan_icmp {

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// Raw IPv4 reads start with the IP header: finds the ICMP message in the `n` bytes received
// (`truncated`: the datagram was longer than the buffer). False for an inconsistent header.
inline bool StripIpv4Header(const uint8_t* p, size_t n, bool truncated, size_t* off, size_t* len) {
  if (n < 20 || (p[0] >> 4) != 4) return false;
  const size_t ihl = static_cast<size_t>(p[0] & 15) * 4;
  const size_t total = Be16(p + 2);
  if (ihl < 20 || ihl > n || total < ihl || (!truncated && total > n)) return false;
  const size_t end = total < n ? total : n;
  *off = ihl;
  *len = end - ihl;
  return true;
}

// Finds the IP packet in a transmit copy, which starts with the link header (14 bytes of
// Ethernet on loopback and Ethernet devices, nothing on tun devices), and where its ICMP message
// is. `dst` points at the packet's destination address (4 or 16 bytes).
inline bool FindIcmpInFrame(const uint8_t* buf, size_t n, bool truncated, bool v6, size_t* off, size_t* len, const uint8_t** dst) {
  const size_t maxLink = n < 64 ? n : 64;
  for (size_t l = 0; l <= maxLink; l++) {
    const uint8_t* b = buf + l;
    const size_t avail = n - l;
    if (!v6) {
      if (avail < 20 || (b[0] >> 4) != 4 || b[9] != IPPROTO_ICMP) continue;
      const size_t ihl = static_cast<size_t>(b[0] & 15) * 4;
      const size_t total = Be16(b + 2);
      if (ihl < 20 || ihl > avail || total < ihl) continue;
      if (truncated ? total < avail : total != avail) continue;
      *off = l + ihl;
      *len = avail - ihl;
      *dst = b + 16;
      return true;
    }
    if (avail < 40 || (b[0] >> 4) != 6 || b[6] != IPPROTO_ICMPV6) continue;
    const size_t total = 40 + static_cast<size_t>(Be16(b + 4));
    if (truncated ? total < avail : total != avail) continue;
    *off = l + 40;
    *len = avail - 40;
    *dst = b + 24;
    return true;
  }
  return false;
}

// Control messages, walked with every length checked against the buffer (glibc's CMSG_NXTHDR
// checks the next header, not that the first one's cmsg_len fits).
inline const struct cmsghdr* FirstCmsg(const struct msghdr* h) {
  if (h->msg_control == nullptr || h->msg_controllen < sizeof(struct cmsghdr)) return nullptr;
  return static_cast<const struct cmsghdr*>(h->msg_control);
}

inline const struct cmsghdr* NextCmsg(const struct msghdr* h, const struct cmsghdr* cm) {
  const uint8_t* base = static_cast<const uint8_t*>(h->msg_control);
  const size_t used = static_cast<size_t>(reinterpret_cast<const uint8_t*>(cm) - base);
  const size_t step = CMSG_ALIGN(static_cast<size_t>(cm->cmsg_len));
  if (cm->cmsg_len < sizeof(struct cmsghdr) || step > h->msg_controllen - used) return nullptr;
  const size_t next = used + step;
  if (h->msg_controllen - next < sizeof(struct cmsghdr)) return nullptr;
  return reinterpret_cast<const struct cmsghdr*>(base + next);
}

// Bytes of data cmsg `cm` really has inside the buffer (0 when its header is inconsistent).
inline size_t CmsgDataLen(const struct msghdr* h, const struct cmsghdr* cm) {
  const uint8_t* base = static_cast<const uint8_t*>(h->msg_control);
  const size_t used = static_cast<size_t>(reinterpret_cast<const uint8_t*>(cm) - base);
  const size_t room = h->msg_controllen - used;
  size_t len = cm->cmsg_len;
  if (len < CMSG_LEN(0)) return 0;
  if (len > room) len = room;
  return len - CMSG_LEN(0);
}

// The receive stamp of a datagram: SCM_TIMESTAMPNS, else SCM_TIMESTAMPING's software stamp.
inline bool RxStampFromCmsgs(const struct msghdr* h, struct timespec* out) {
  bool found = false;
  for (const struct cmsghdr* cm = FirstCmsg(h); cm != nullptr; cm = NextCmsg(h, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || CmsgDataLen(h, cm) < sizeof(struct timespec)) continue;
    if (cm->cmsg_type == SCM_TIMESTAMPNS) {
      memcpy(out, CMSG_DATA(cm), sizeof *out);
      return true;
    }
    if (cm->cmsg_type == SCM_TIMESTAMPING) {
      memcpy(out, CMSG_DATA(cm), sizeof *out);
      found = true;
    }
  }
  return found;
}

// What one error-queue entry's control messages say.
struct ErrorCmsgs {
  bool haveEe = false;
  struct sock_extended_err ee;
  struct sockaddr_in6 offender;  // SO_EE_OFFENDER, zeroed when absent
  size_t offenderLen = 0;
  bool haveTsing = false;
  struct timespec tsing;  // SCM_TIMESTAMPING ts[0]: the software stamp
  bool haveTsns = false;
  struct timespec tsns;
};

inline void ParseErrorCmsgs(const struct msghdr* h, ErrorCmsgs* out) {
  memset(&out->offender, 0, sizeof out->offender);
  for (const struct cmsghdr* cm = FirstCmsg(h); cm != nullptr; cm = NextCmsg(h, cm)) {
    const size_t len = CmsgDataLen(h, cm);
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPING && len >= sizeof(struct timespec)) {
      memcpy(&out->tsing, CMSG_DATA(cm), sizeof out->tsing);
      out->haveTsing = true;
    } else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS && len >= sizeof(struct timespec)) {
      memcpy(&out->tsns, CMSG_DATA(cm), sizeof out->tsns);
      out->haveTsns = true;
    } else if (((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) || (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)) &&
               len >= sizeof(struct sock_extended_err)) {
      memcpy(&out->ee, CMSG_DATA(cm), sizeof out->ee);
      out->haveEe = true;
      // SO_EE_OFFENDER: the sockaddr right after the extended error, inside the same cmsg.
      size_t room = len - sizeof(struct sock_extended_err);
      if (room > sizeof out->offender) room = sizeof out->offender;
      memset(&out->offender, 0, sizeof out->offender);
      memcpy(&out->offender, CMSG_DATA(cm) + sizeof(struct sock_extended_err), room);
      out->offenderLen = room;
    }
  }
}

// 4 (IPv4) or 16 (IPv6) address bytes of a sockaddr into a zeroed 16-byte cell.
inline void CopyAddress(const struct sockaddr_in6* sa, size_t len, uint8_t* out16) {
  memset(out16, 0, 16);
  if (len >= sizeof(struct sockaddr_in6) && sa->sin6_family == AF_INET6) {
    memcpy(out16, &sa->sin6_addr, 16);
  } else if (len >= sizeof(struct sockaddr_in) && sa->sin6_family == AF_INET) {
    memcpy(out16, &reinterpret_cast<const struct sockaddr_in*>(sa)->sin_addr, 4);
  }
}

}  // namespace netscan_icmp

#endif  // NETSCAN_ICMP_PACKET_H_
