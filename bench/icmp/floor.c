// The kernel floor of ping monitoring: the least CPU a pinger can spend per ping on this machine.
//
//   floor PPS SECONDS STAMPS [TARGETS [FIRST_IPV4]]
//
// One raw ICMP socket (ICMP_FILTER: echo replies only; a large receive buffer; SO_TIMESTAMPNS
// receive stamps). Every 5 ms (absolute ticks on CLOCK_MONOTONIC, so a late tick never shifts the
// schedule) it sends PPS * 5 / 1000 echo requests with one sendmmsg(2) to TARGETS distinct
// addresses from FIRST_IPV4 (default 5000 from 127.11.0.1), round-robin, then drains the replies
// with recvmmsg(2) whenever ppoll(2) says the socket is readable. With STAMPS = 1 it also asks for
// kernel TX stamps (SO_TIMESTAMPING TX_SOFTWARE | SOFTWARE | OPT_ID | OPT_TSONLY) and drains them
// from the error queue with recvmmsg(2, MSG_ERRQUEUE), as a pinger timing RTT in the kernel does.
// It keeps nothing per probe but the send time of each sequence number: the kernel TX stamp, or
// without stamps the wall clock read at the start of the tick (so that RTT includes the batch).
//
// Prints one JSON line: pings sent and received, TX stamps read, and CPU (getrusage user + system)
// per ping sent, in microseconds. Built by the benchmarks with `gcc -O2`; needs CAP_NET_RAW.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS 5000000LL
#define PAYLOAD 56
#define BATCH 1024
#define RX_BATCH 256

static int64_t ns_of(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec; }

static int64_t now_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return ns_of(&t);
}

static uint16_t checksum(const uint8_t *p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons((uint16_t)~sum);
}

static double cpu_us(long *max_rss_kb) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (max_rss_kb) *max_rss_kb = ru.ru_maxrss;
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s PPS SECONDS STAMPS(0|1) [TARGETS [FIRST_IPV4]]\n", argv[0]);
    return 2;
  }
  const double pps = atof(argv[1]);
  const double seconds = atof(argv[2]);
  const int stamps = atoi(argv[3]);
  const uint32_t targets = argc > 4 ? (uint32_t)atol(argv[4]) : 5000;
  struct in_addr first;
  if (inet_pton(AF_INET, argc > 5 ? argv[5] : "127.11.0.1", &first) != 1 || pps <= 0 || seconds <= 0 ||
      targets == 0) {
    fprintf(stderr, "floor: bad arguments\n");
    return 2;
  }
  const uint32_t first_host = ntohl(first.s_addr);

  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
  if (fd < 0) {
    perror("floor: socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) (needs CAP_NET_RAW)");
    return 1;
  }
  struct icmp_filter filter = {.data = ~(1U << ICMP_ECHOREPLY)};
  if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) < 0) perror("floor: ICMP_FILTER");
  int rcvbuf = 32 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  socklen_t len = sizeof rcvbuf;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) perror("floor: SO_TIMESTAMPNS");
  int opt_id = 0;
  if (stamps) {
    int flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
                SOF_TIMESTAMPING_OPT_TSONLY;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0) {
      opt_id = 1;
    } else {
      flags &= ~SOF_TIMESTAMPING_OPT_ID;
      if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) < 0) {
        perror("floor: SO_TIMESTAMPING");
        return 1;
      }
    }
  }

  const uint16_t ident = (uint16_t)getpid();
  static uint8_t pkts[BATCH][8 + PAYLOAD];
  static struct sockaddr_in dst[BATCH];
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  static int64_t sent_at[65536];
  static uint8_t rx[RX_BATCH][1600];
  static char rx_ctl[RX_BATCH][256];
  static struct iovec rx_iov[RX_BATCH];
  static struct mmsghdr rx_msgs[RX_BATCH];

  uint64_t sent = 0, received = 0, foreign = 0, tx_stamps = 0, send_errors = 0, rx_stamped = 0;
  int64_t rtt_sum_ns = 0, rtt_max_ns = 0;
  double owed = 0;

  const double cpu0 = cpu_us(NULL);
  const int64_t t0 = now_ns(CLOCK_MONOTONIC);
  const int64_t ticks = (int64_t)(seconds * 1e9 / TICK_NS);
  const int64_t end = t0 + ticks * TICK_NS;
  int64_t next = t0;
  int64_t t = 0;
  int64_t last_tick = t0;
  for (;;) {
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= next && t < ticks) {
      owed += pps * TICK_NS / 1e9;
      uint32_t n = (uint32_t)owed;
      owed -= n;
      const int64_t wall = now_ns(CLOCK_REALTIME);
      while (n > 0) {
        uint32_t k = n < BATCH ? n : BATCH;
        for (uint32_t i = 0; i < k; i++) {
          uint16_t seq = (uint16_t)(sent + i);
          struct icmphdr *h = (struct icmphdr *)pkts[i];
          h->type = ICMP_ECHO;
          h->code = 0;
          h->checksum = 0;
          h->un.echo.id = htons(ident);
          h->un.echo.sequence = htons(seq);
          memcpy(pkts[i] + 8, &wall, sizeof wall);
          h->checksum = checksum(pkts[i], sizeof pkts[i]);
          dst[i].sin_family = AF_INET;
          dst[i].sin_addr.s_addr = htonl(first_host + (uint32_t)((sent + i) % targets));
          iov[i].iov_base = pkts[i];
          iov[i].iov_len = sizeof pkts[i];
          memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
          msgs[i].msg_hdr.msg_name = &dst[i];
          msgs[i].msg_hdr.msg_namelen = sizeof dst[i];
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          sent_at[seq] = wall;
        }
        int r = sendmmsg(fd, msgs, k, 0);
        uint32_t ok = r > 0 ? (uint32_t)r : 0;
        sent += ok;
        // A short or failed sendmmsg: the rest of this tick's requests are counted, not retried.
        if (ok < k) send_errors += k - ok;
        n -= k;
      }
      t++;
      next = t0 + t * TICK_NS;
      last_tick = now;
    }
    // After the last tick (late if the machine was busy), 200 ms to drain its replies.
    const int64_t drained = (last_tick > end ? last_tick : end) + 200000000LL;
    if (t >= ticks && now >= drained) break;

    int64_t wait = (t < ticks ? next : drained) - now_ns(CLOCK_MONOTONIC);
    if (wait < 0) wait = 0;
    struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (ppoll(&p, 1, &ts, NULL) <= 0) continue;
    if (p.revents & POLLERR) {
      // TX stamps: the kernel's send time of each request, keyed by OPT_ID (sends on this socket).
      for (;;) {
        for (int i = 0; i < RX_BATCH; i++) {
          rx_iov[i] = (struct iovec){.iov_base = rx[i], .iov_len = sizeof rx[i]};
          memset(&rx_msgs[i].msg_hdr, 0, sizeof rx_msgs[i].msg_hdr);
          rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
          rx_msgs[i].msg_hdr.msg_iovlen = 1;
          rx_msgs[i].msg_hdr.msg_control = rx_ctl[i];
          rx_msgs[i].msg_hdr.msg_controllen = sizeof rx_ctl[i];
        }
        int r = recvmmsg(fd, rx_msgs, RX_BATCH, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        for (int i = 0; i < r; i++) {
          struct scm_timestamping *stamp = NULL;
          struct sock_extended_err *ee = NULL;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&rx_msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&rx_msgs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING)
              stamp = (struct scm_timestamping *)CMSG_DATA(c);
            else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR)
              ee = (struct sock_extended_err *)CMSG_DATA(c);
          }
          if (stamp && ee && ee->ee_origin == SO_EE_ORIGIN_TIMESTAMPING) {
            tx_stamps++;
            if (opt_id) sent_at[(uint16_t)ee->ee_data] = ns_of(&stamp->ts[0]);
          }
        }
        if (r < RX_BATCH) break;
      }
    }
    if (!(p.revents & POLLIN)) continue;
    for (;;) {
      for (int i = 0; i < RX_BATCH; i++) {
        rx_iov[i] = (struct iovec){.iov_base = rx[i], .iov_len = sizeof rx[i]};
        memset(&rx_msgs[i].msg_hdr, 0, sizeof rx_msgs[i].msg_hdr);
        rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
        rx_msgs[i].msg_hdr.msg_iovlen = 1;
        rx_msgs[i].msg_hdr.msg_control = rx_ctl[i];
        rx_msgs[i].msg_hdr.msg_controllen = sizeof rx_ctl[i];
      }
      int r = recvmmsg(fd, rx_msgs, RX_BATCH, MSG_DONTWAIT, NULL);
      if (r <= 0) break;
      for (int i = 0; i < r; i++) {
        const uint8_t *b = rx[i];
        size_t n = rx_msgs[i].msg_len;
        size_t ihl = (size_t)(b[0] & 0x0f) * 4;
        if (n < ihl + 8) continue;
        const struct icmphdr *h = (const struct icmphdr *)(b + ihl);
        if (h->type != ICMP_ECHOREPLY || ntohs(h->un.echo.id) != ident) {
          foreign++;
          continue;
        }
        received++;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&rx_msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&rx_msgs[i].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            int64_t rtt = ns_of((const struct timespec *)CMSG_DATA(c)) - sent_at[ntohs(h->un.echo.sequence)];
            rx_stamped++;
            rtt_sum_ns += rtt;
            if (rtt > rtt_max_ns) rtt_max_ns = rtt;
          }
        }
      }
      if (r < RX_BATCH) break;
    }
  }
  long max_rss_kb = 0;
  const double cpu = cpu_us(&max_rss_kb) - cpu0;
  const double wall_s = (now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
  // From the first tick to the end of the last one: longer than SECONDS when ticks ran late.
  const double send_span_s = (last_tick - t0 + TICK_NS) / 1e9;
  printf("{\"pps\":%.0f,\"seconds\":%.3f,\"wall_s\":%.3f,\"send_span_s\":%.3f,\"targets\":%u,\"tx_stamps_on\":%s,\"opt_id\":%s,"
         "\"rcvbuf\":%d,\"sent\":%llu,\"received\":%llu,\"foreign\":%llu,\"send_errors\":%llu,\"tx_stamps\":%llu,"
         "\"max_rss_kb\":%ld,\"cpu_us\":%.0f,\"cpu_us_per_ping\":%.3f,\"rtt_avg_us\":%.2f,\"rtt_max_us\":%.1f}\n",
         pps, seconds, wall_s, send_span_s, targets, stamps ? "true" : "false", opt_id ? "true" : "false", rcvbuf,
         (unsigned long long)sent, (unsigned long long)received, (unsigned long long)foreign,
         (unsigned long long)send_errors, (unsigned long long)tx_stamps, max_rss_kb, cpu, sent ? cpu / (double)sent : 0.0,
         rx_stamped ? rtt_sum_ns / 1e3 / (double)rx_stamped : 0.0, rtt_max_ns / 1e3);
  close(fd);
  return 0;
}
