// Child process for native-socket-netns.test.ts: runs one scenario against the native ICMP
// socket addon inside the private namespace the test created, and prints one JSON line with
// what it observed. Every scenario ends by closing its sockets and letting the event loop empty
// (no process.exit): a socket that kept the process alive would time the test out.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { hasCode } from '../../errors/errors.js';
import { IcmpErrorKind } from '../icmp-socket.js';
import type { IcmpFamily, IcmpSocketMode } from '../icmp-socket.js';
import {
  type NativeIcmpSocket,
  nativeAddonPath,
  openNativeIcmpSocketWith,
  type NativeSocketTuning,
} from '../native-socket.js';
import { writeIpv6 } from '../../net/ipv6.js';
import { IcmpSocketError } from '../icmp-socket.js';

const [scenario = '', ...args] = process.argv.slice(2);
const ECHO_ID = 0x4e53; // "NS": our identifier on raw sockets
const MARK = Buffer.from('netscan!');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function checksum(buf: Buffer, len = buf.length): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) sum += buf[len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An echo request (or, with `type`, any echo-shaped message): id, seq, then MARK and bytes derived from seq. */
function echo(family: IcmpFamily, seq: number, length = 64, id = ECHO_ID, type?: number): Buffer {
  const b = Buffer.alloc(length);
  b[0] = type ?? (family === 'ipv4' ? 8 : 128);
  if (length >= 8) {
    b.writeUInt16BE(id, 4);
    b.writeUInt16BE(seq & 0xffff, 6);
  }
  for (let i = 8; i < length; i++) b[i] = i < 16 ? MARK[i - 8]! : (seq * 7 + i) & 0xff;
  if (family === 'ipv4' && length >= 4) b.writeUInt16BE(checksum(b), 2); // the kernel fills the ICMPv6 checksum
  return b;
}

function addressBytes(ip: string, family: IcmpFamily): Buffer {
  const out = Buffer.alloc(16);
  if (family === 'ipv4')
    ip.split('.').forEach((o, i) => {
      out[i] = Number(o);
    });
  else if (!writeIpv6(ip, ip.length, out, 0)) throw new Error(`bad address ${ip}`);
  return out;
}

function formatAddress(cell: Uint8Array, family: IcmpFamily): string {
  if (family === 'ipv4') return `${cell[0]}.${cell[1]}.${cell[2]}.${cell[3]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((cell[i]! << 8) | cell[i + 1]!).toString(16));
  return g.join(':');
}

function open(family: IcmpFamily, mode: IcmpSocketMode, tuning: NativeSocketTuning = {}): NativeIcmpSocket {
  return openNativeIcmpSocketWith({ family, mode, rcvbufBytes: 4 << 20 }, tuning);
}

interface Reply {
  seq: number;
  id: number;
  type: number;
  code: number;
  length: number;
  source: string;
  rxNs: number;
  data: Buffer;
}
interface ErrEntry {
  kind: number;
  length: number;
  data: Buffer;
  destination: string;
  offender: string;
  type: number;
  code: number;
  txNs: number;
}

/** Reads everything the socket reports, on every readable event, into arrays. */
class Collector {
  readonly replies: Reply[] = [];
  readonly errors: ErrEntry[] = [];
  readonly lengths: number[] = [];
  events = 0;
  readCalls = 0;
  #waiters: Array<() => void> = [];

  constructor(
    readonly s: NativeIcmpSocket,
    readonly family: IcmpFamily,
  ) {
    s.onReadable(() => this.drain());
    s.onError((err) => {
      throw err;
    });
  }

  drain(): void {
    this.events++;
    const s = this.s;
    const rb = s.readBatch;
    const eb = s.errorBatch;
    for (;;) {
      const n = s.read();
      this.readCalls++;
      for (let i = 0; i < n; i++) {
        const len = rb.length[i]!;
        this.lengths.push(len);
        if (len < 0 || len > rb.slotBytes) throw new Error(`read length ${len} out of bounds`);
        const d = Buffer.from(rb.data.subarray(i * rb.slotBytes, i * rb.slotBytes + len));
        this.replies.push({
          type: d[0] ?? -1,
          code: d[1] ?? -1,
          id: len >= 6 ? d.readUInt16BE(4) : -1,
          seq: len >= 8 ? d.readUInt16BE(6) : -1,
          length: len,
          source: formatAddress(rb.source.subarray(i * 16, i * 16 + 16), this.family),
          rxNs: rb.rxNs[i]!,
          data: d.subarray(0, Math.min(len, 64)),
        });
      }
      if (n < s.batchSize) break;
    }
    for (;;) {
      const n = s.readErrors();
      for (let i = 0; i < n; i++) {
        const len = eb.length[i]!;
        if (len < 0 || len > eb.slotBytes) throw new Error(`error entry length ${len} out of bounds`);
        this.errors.push({
          kind: eb.kind[i]!,
          length: len,
          data: Buffer.from(eb.data.subarray(i * eb.slotBytes, i * eb.slotBytes + Math.min(len, 64))),
          destination: formatAddress(eb.destination.subarray(i * 16, i * 16 + 16), this.family),
          offender: formatAddress(eb.offender.subarray(i * 16, i * 16 + 16), this.family),
          type: eb.icmpType[i]!,
          code: eb.icmpCode[i]!,
          txNs: eb.txNs[i]!,
        });
      }
      if (n < s.batchSize) break;
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves when `done()` holds after a readable event, or after `ms`. */
  async until(done: () => boolean, ms = 3000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }
}

interface SendResult {
  sent: number;
  flushes: number;
  failures: Record<string, number>;
  eagain: number;
}

/** Queues every packet, flushing full batches; waits for writability on EAGAIN/ENOBUFS, drops datagrams that fail otherwise. */
async function sendAll(s: NativeIcmpSocket, packets: Array<{ buf: Buffer; ip: string }>): Promise<SendResult> {
  const r: SendResult = { sent: 0, flushes: 0, failures: {}, eagain: 0 };
  const flushAll = async (): Promise<void> => {
    while (s.queued > 0) {
      r.sent += s.flush();
      r.flushes++;
      const e = s.lastSendError;
      if (e === undefined) continue;
      if (e === 'EAGAIN' || e === 'ENOBUFS') {
        r.eagain++;
        await new Promise<void>((resolve) => s.onceWritable(resolve));
      } else {
        r.failures[e] = (r.failures[e] ?? 0) + 1;
        s.discardFirst();
      }
    }
  };
  for (const p of packets) {
    if (s.queued === s.batchSize) await flushAll();
    s.queue(p.buf, p.buf.length, p.ip);
  }
  await flushAll();
  return r;
}

function v4Targets(n: number, third = 0): string[] {
  return Array.from({ length: n }, (_, i) => `127.${third}.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`);
}

function v6Targets(n: number): string[] {
  return ['::1', ...Array.from({ length: n - 1 }, (_, i) => `fd00:1::${(i + 1).toString(16)}`)];
}

/** Echo requests to many loopback targets; replies with RX stamps, transmit stamps with copies. */
async function echoScenario(
  mode: IcmpSocketMode,
  family: IcmpFamily,
  count: number,
  tuning: NativeSocketTuning = {},
): Promise<unknown> {
  const s = open(family, mode, tuning);
  const c = new Collector(s, family);
  const targets = family === 'ipv4' ? v4Targets(count) : v6Targets(count);
  const packets = targets.map((ip, seq) => ({ buf: echo(family, seq, 64 + (seq % 3) * 8), ip }));
  const send = await sendAll(s, packets);
  const replyType = family === 'ipv4' ? 0 : 129;
  const wantId = mode === 'dgram' ? s.identifier! : ECHO_ID;
  const txs = (): ErrEntry[] => c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp);
  await c.until(() => c.replies.filter((r) => r.type === replyType).length >= count && txs().length >= count, 3000);
  const replies = c.replies.filter((r) => r.type === replyType);
  const rxBySeq = new Map<number, number>();
  let badId = 0;
  let badSource = 0;
  let badPayload = 0;
  let rxNaN = 0;
  for (const r of replies) {
    if (r.id !== wantId) {
      badId++;
      continue;
    }
    const sent = packets[r.seq];
    if (
      !sent ||
      r.length !== sent.buf.length ||
      !r.data.subarray(8).equals(sent.buf.subarray(8, Math.min(64, sent.buf.length)))
    )
      badPayload++;
    if (sent && formatAddress(addressBytes(sent.ip, family), family) !== r.source) badSource++;
    if (Number.isNaN(r.rxNs)) rxNaN++;
    rxBySeq.set(r.seq, r.rxNs);
  }
  let badCopy = 0;
  let badDest = 0;
  let txNaN = 0;
  let pairs = 0;
  let rxBeforeTx = 0;
  const deltas: number[] = [];
  const txSeqs = new Set<number>();
  for (const t of txs()) {
    if (Number.isNaN(t.txNs)) txNaN++;
    if (t.length < 8) {
      badCopy++;
      continue;
    }
    const seq = t.data.readUInt16BE(6);
    const sent = packets[seq];
    const want = tuning.tsOnly ? Math.min(24, sent?.buf.length ?? 0) : sent?.buf.length;
    const id = t.data.readUInt16BE(4);
    if (
      !sent ||
      t.length !== want ||
      t.data[0] !== sent.buf[0] ||
      id !== wantId ||
      !t.data.subarray(8, Math.min(t.length, 64)).equals(sent.buf.subarray(8, Math.min(t.length, 64)))
    ) {
      badCopy++;
      continue;
    }
    if (formatAddress(addressBytes(sent.ip, family), family) !== t.destination) badDest++;
    txSeqs.add(seq);
    const rx = rxBySeq.get(seq);
    if (rx !== undefined && !Number.isNaN(rx) && !Number.isNaN(t.txNs)) {
      pairs++;
      if (rx < t.txNs) rxBeforeTx++;
      deltas.push(rx - t.txNs);
    }
  }
  deltas.sort((a, b) => a - b);
  const result = {
    identifier: s.identifier ?? null,
    kernelStamps: s.kernelStamps,
    tsOnly: s.tsOnly,
    rcvbufBytes: s.rcvbufBytes,
    count,
    send,
    replies: replies.length,
    uniqueReplies: rxBySeq.size,
    txStamps: txs().length,
    txUnique: txSeqs.size,
    otherErrors: c.errors.filter((e) => e.kind !== IcmpErrorKind.TxStamp).length,
    pairs,
    rxBeforeTx,
    medianRttNs: deltas[Math.floor(deltas.length / 2)] ?? null,
    badId,
    badSource,
    badPayload,
    badCopy,
    badDest,
    rxNaN,
    txNaN,
    events: c.events,
    stats: s.stats(),
  };
  s.close();
  return result;
}

/** As an unprivileged user: which sockets open, and how the others fail. */
async function permissions(): Promise<unknown> {
  const out: Record<string, unknown> = { uid: process.getuid?.() };
  // Beyond net.core.rmem_max, without CAP_NET_ADMIN: SO_RCVBUFFORCE is refused, SO_RCVBUF capped.
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  try {
    const big = openNativeIcmpSocketWith({ family: 'ipv4', mode: 'dgram', rcvbufBytes: rmemMax * 4 });
    out.rcvbuf = { requested: rmemMax * 4, granted: big.rcvbufBytes, rmemMax };
    big.close();
  } catch {
    out.rcvbuf = null;
  }
  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const mode of ['raw', 'dgram'] as const) {
      const key = `${mode}-${family}`;
      try {
        const s = open(family, mode);
        const c = new Collector(s, family);
        const target = family === 'ipv4' ? '127.0.0.1' : '::1';
        const send = await sendAll(
          s,
          [0, 1, 2].map((seq) => ({ buf: echo(family, seq), ip: target })),
        );
        const replyType = family === 'ipv4' ? 0 : 129;
        const txs = (): number => c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp).length;
        await c.until(() => c.replies.length >= 3 && txs() >= 3);
        const replies = c.replies.filter((r) => r.type === replyType);
        out[key] = {
          opened: true,
          identifier: s.identifier ?? null,
          sent: send.sent,
          replies: replies.length,
          replyIds: [...new Set(replies.map((r) => r.id))],
          rxStamped: replies.filter((r) => !Number.isNaN(r.rxNs)).length,
          txStamps: txs(),
        };
        s.close();
      } catch (err) {
        out[key] = {
          opened: false,
          permission: hasCode(err, 'ERR_ICMP_PERMISSION'),
          code: (err as { code?: string }).code,
          causeCode: (err as { cause?: { code?: string } }).cause?.code,
          causeIsSocketError: (err as { cause?: unknown }).cause instanceof IcmpSocketError,
          message: (err as Error).message,
        };
      }
    }
  }
  return out;
}

/** Datagram mode: ICMP errors reach the error queue; the pending errno they leave fails no send or read. */
async function icmpErrors(family: IcmpFamily): Promise<unknown> {
  const s = open(family, 'dgram');
  const c = new Collector(s, family);
  const [rejected, prohibited] = family === 'ipv4' ? ['127.0.0.2', '127.0.0.2'] : ['fd00:1::2', 'fd00:1::3'];
  const icmpErrs = (): ErrEntry[] => c.errors.filter((e) => e.kind === IcmpErrorKind.IcmpError);
  await sendAll(s, [
    { buf: echo(family, 1), ip: rejected! },
    { buf: echo(family, 2), ip: prohibited! },
  ]);
  await c.until(() => icmpErrs().length >= (family === 'ipv4' ? 2 : 2));
  const first = icmpErrs().map((e) => ({
    type: e.type,
    code: e.code,
    destination: e.destination,
    offender: e.offender,
    length: e.length,
    dataType: e.data[0],
    dataId: e.length >= 6 ? e.data.readUInt16BE(4) : -1,
    dataSeq: e.length >= 8 ? e.data.readUInt16BE(6) : -1,
    marked: e.data.subarray(8, 16).equals(MARK),
  }));

  // The pending errno: an error arrives while nobody reads the error queue, then sends to live
  // hosts and a read must go through untouched.
  s.onReadable(() => {}); // stop reading for a moment
  await sendAll(s, [{ buf: echo(family, 3), ip: rejected! }]);
  await sleep(100);
  const readWhilePending = s.read(); // absorbs the pending errno; nothing to read yet
  await sendAll(s, [{ buf: echo(family, 4), ip: rejected! }]);
  await sleep(100);
  const live =
    family === 'ipv4'
      ? v4Targets(20, 9)
      : v6Targets(21)
          .slice(1)
          .map((a) => a.replace('fd00:1::', 'fd00:1::1:'));
  const batch = live.map((ip, i) => ({ buf: echo(family, 100 + i), ip }));
  for (const p of batch) s.queue(p.buf, p.buf.length, p.ip);
  const sentAfterPending = s.flush();
  const errorAfterPending = s.lastSendError ?? null;
  s.onReadable(() => c.drain());
  const replyType = family === 'ipv4' ? 0 : 129;
  await c.until(
    () => c.replies.filter((r) => r.type === replyType && r.seq >= 100).length >= live.length && icmpErrs().length >= 4,
  );
  const result = {
    identifier: s.identifier,
    first,
    readWhilePending,
    sentAfterPending,
    errorAfterPending,
    liveReplies: c.replies.filter((r) => r.type === replyType && r.seq >= 100).length,
    icmpErrors: icmpErrs().length,
    stats: s.stats(),
  };
  s.close();
  return result;
}

/** Raw mode: ICMP errors come through read() as datagrams (the engine parses them). */
async function rawErrors(family: IcmpFamily): Promise<unknown> {
  const s = open(family, 'raw');
  const c = new Collector(s, family);
  const target = family === 'ipv4' ? '127.0.0.2' : 'fd00:1::2';
  await sendAll(s, [{ buf: echo(family, 7), ip: target }]);
  const errType = family === 'ipv4' ? 3 : 1;
  await c.until(() => c.replies.some((r) => r.type === errType));
  const e = c.replies.find((r) => r.type === errType);
  s.close();
  return {
    got: e ? { type: e.type, code: e.code, source: e.source, length: e.length } : null,
    errorQueue: c.errors.filter((x) => x.kind !== IcmpErrorKind.TxStamp).length,
  };
}

// ---------------------------------------------------------------------------------------------
// Hostile input, from raw-socket (IP_HDRINCL for IPv4) in the same namespace.

type RawModule = typeof import('raw-socket').default;
const rawSocket = createRequire(import.meta.url)('raw-socket') as RawModule;

function ipv4Header(payloadLen: number, ihlWords = 5, proto = 1): Buffer {
  const h = Buffer.alloc(ihlWords * 4);
  h[0] = 0x40 | ihlWords;
  h.writeUInt16BE(h.length + payloadLen, 2); // the kernel rewrites tot_len and the checksum anyway
  h[8] = 64;
  h[9] = proto;
  h.set([127, 0, 0, 1], 12);
  h.set([127, 0, 0, 1], 16);
  for (let i = 20; i < h.length; i++) h[i] = 1; // NOP options
  return h;
}

function icmpMessage(type: number, code: number, body: Buffer, family: IcmpFamily): Buffer {
  const m = Buffer.concat([Buffer.from([type, code, 0, 0]), body]);
  if (family === 'ipv4' && m.length >= 4) m.writeUInt16BE(checksum(m), 2);
  return m;
}

async function hostile(mode: IcmpSocketMode, family: IcmpFamily): Promise<unknown> {
  const s = open(family, mode);
  const c = new Collector(s, family);
  const id = mode === 'dgram' ? s.identifier! : ECHO_ID;
  const v4 = family === 'ipv4';
  const sender = v4
    ? rawSocket.createSocket({ protocol: 255, addressFamily: rawSocket.AddressFamily.IPv4 })
    : rawSocket.createSocket({ protocol: rawSocket.Protocol.ICMPv6, addressFamily: rawSocket.AddressFamily.IPv6 });
  const dst = v4 ? '127.0.0.1' : '::1';
  let sendErrors = 0;
  const put = (icmp: Buffer, ihlWords = 5): void => {
    const pkt = v4 ? Buffer.concat([ipv4Header(icmp.length, ihlWords), icmp]) : icmp;
    try {
      sender.wrap.send(pkt, 0, pkt.length, dst, () => {});
    } catch {
      sendErrors++;
    }
  };
  const idSeq = (seq: number, extra = 0): Buffer => {
    const b = Buffer.alloc(4 + extra);
    b.writeUInt16BE(id, 0);
    b.writeUInt16BE(seq, 2);
    for (let i = 4; i < b.length; i++) b[i] = i & 0xff;
    return b;
  };
  const replyType = v4 ? 0 : 129;
  // An embedded request of ours, as an error quotes it.
  const quoted = (seq: number, icmpBytes: number): Buffer => {
    const req = echo(family, seq, 64, id);
    if (v4) {
      const ip = ipv4Header(req.length);
      ip.set([127, 0, 0, 9], 16);
      return Buffer.concat([ip, req.subarray(0, icmpBytes)]);
    }
    const ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(req.length, 4);
    ip[6] = 58;
    ip[7] = 64;
    ip[23] = 1;
    ip[24] = 0xfd;
    ip[26] = 0;
    ip[27] = 1;
    ip[39] = 9; // fd00:1::9
    return Buffer.concat([ip, req.subarray(0, icmpBytes)]);
  };
  const unreach = v4 ? 3 : 1;

  put(icmpMessage(replyType, 0, idSeq(1), family)); // 8 bytes: header only
  put(icmpMessage(replyType, 0, idSeq(2, 1), family)); // 9 bytes
  put(icmpMessage(replyType, 0, idSeq(3, 65000 - 8), family)); // 65,000 bytes: truncated to the slot
  if (v4) put(icmpMessage(replyType, 0, idSeq(4, 56), family), 15); // 40 bytes of IP options
  put(icmpMessage(replyType, 0, Buffer.alloc(0), family)); // 4 bytes: no id at all
  put(Buffer.from([replyType])); // 1 byte
  if (v4) put(Buffer.alloc(0)); // protocol ICMP, no ICMP header
  put(icmpMessage(unreach, v4 ? 1 : 4, Buffer.concat([Buffer.alloc(4), quoted(5, 8)]), family)); // error quoting our request
  put(icmpMessage(unreach, 1, Buffer.concat([Buffer.alloc(4), quoted(6, 4)]), family)); // quote cut inside the ICMP header
  put(icmpMessage(v4 ? 11 : 3, 0, Buffer.concat([Buffer.alloc(4), Buffer.from([0x4f, 0, 0, 0])]), family)); // quote: a bogus IHL=15 header, 4 bytes
  put(icmpMessage(v4 ? 13 : 140, 0, idSeq(7, 12), family)); // a type the raw filters drop
  // Junk: random types the filters pass and random lengths and bytes (bad checksums on IPv4).
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const junkTypes = v4 ? [0, 3, 11] : [1, 2, 3, 4, 129];
  for (let k = 0; k < 500; k++) {
    const len = rnd(4) === 0 ? rnd(4000) : rnd(80);
    const b = Buffer.alloc(Math.max(1, len));
    for (let i = 0; i < b.length; i++) b[i] = rnd(256);
    b[0] = junkTypes[rnd(junkTypes.length)]!;
    if (b.length >= 6 && rnd(2) === 0) b.writeUInt16BE(id, 4);
    put(b, v4 && rnd(8) === 0 ? 5 + rnd(11) : 5);
  }
  put(icmpMessage(replyType, 0, idSeq(9999, 8), family)); // the end marker
  await c.until(() => c.replies.some((r) => r.type === replyType && r.id === id && r.seq === 9999), 5000);
  await sleep(100);
  sender.close();
  const mine = c.replies.filter((r) => r.type === replyType && r.id === id);
  const bySeq = (seq: number): Reply | undefined => mine.find((r) => r.seq === seq);
  const errs = c.errors.filter((e) => e.kind === IcmpErrorKind.IcmpError);
  const result = {
    sendErrors,
    reads: c.replies.length,
    maxLength: Math.max(0, ...c.lengths),
    minLength: Math.min(...c.lengths),
    slotBytes: s.readBatch.slotBytes,
    headerOnly: bySeq(1)?.length ?? null,
    nineBytes: bySeq(2)?.length ?? null,
    oversized: bySeq(3)?.length ?? null,
    oversizedHead: bySeq(3) ? bySeq(3)!.data.subarray(0, 8).toString('hex') : null,
    withOptions: bySeq(4) ? { length: bySeq(4)!.length, type: bySeq(4)!.type } : null,
    shortOnes: c.replies.filter((r) => r.length < 8).map((r) => r.length),
    filteredTypeSeen: c.replies.some((r) => r.type === (v4 ? 13 : 140)),
    requestsSeen: c.replies.some((r) => r.type === (v4 ? 8 : 128)),
    errorsRead: c.replies.filter((r) => r.type === unreach).length,
    errorQueue: errs.map((e) => ({
      type: e.type,
      code: e.code,
      length: e.length,
      seq: e.length >= 8 ? e.data.readUInt16BE(6) : -1,
      destination: e.destination,
    })),
    otherEntries: c.errors.filter((e) => e.kind === IcmpErrorKind.Other).length,
    stats: s.stats(),
    sawEnd: bySeq(9999) !== undefined,
  };
  s.close();
  return result;
}

// ---------------------------------------------------------------------------------------------
// Batch edge cases.

function caught(fn: () => unknown): { name: string; code?: string; message: string } | null {
  try {
    fn();
    return null;
  } catch (err) {
    return { name: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

async function batchEdges(): Promise<unknown> {
  const out: Record<string, unknown> = {};
  const s = open('ipv4', 'raw');
  const c = new Collector(s, 'ipv4');
  out.emptyFlush = { sent: s.flush(), lastSendError: s.lastSendError ?? null, queued: s.queued };
  const p = echo('ipv4', 0);
  for (let i = 0; i < s.batchSize; i++) s.queue(echo('ipv4', i), 64, '127.0.0.1');
  out.overfull = caught(() => s.queue(p, 64, '127.0.0.1'));
  out.fullFlush = { sent: s.flush(), queued: s.queued, lastSendError: s.lastSendError ?? null };
  out.badAddress = caught(() => s.queue(p, 64, '127.0.0.256'));
  out.v6OnV4 = caught(() => s.queue(p, 64, '::1'));
  out.badLength = caught(() => s.queue(p, 65, '127.0.0.1'));
  out.queuedAfterBad = s.queued;

  // A datagram that cannot go (no route in the namespace) in the middle of a batch.
  const plan = ['127.0.1.1', '127.0.1.2', '192.0.2.1', '127.0.1.4', '127.0.1.5'];
  plan.forEach((ip, k) => s.queue(echo('ipv4', 200 + k), 64, ip));
  const first = s.flush();
  const mid = { sent: first, lastSendError: s.lastSendError ?? null, queued: s.queued };
  s.discardFirst();
  const afterDiscard = s.queued;
  const second = s.flush();
  out.partial = { ...mid, afterDiscard, second, lastSendError2: s.lastSendError ?? null, queued2: s.queued };
  s.discardFirst(); // nothing queued: a no-op
  out.discardEmpty = s.queued;
  await c.until(
    () =>
      [200, 201, 203, 204].every((q) => c.replies.some((r) => r.type === 0 && r.seq === q)) &&
      c.replies.filter((r) => r.type === 0 && r.seq < 64).length >= 64,
  );
  out.partialReplies = c.replies
    .filter((r) => r.type === 0 && r.seq >= 200)
    .map((r) => `${r.seq}@${r.source}`)
    .sort();
  out.fullReplies = new Set(c.replies.filter((r) => r.type === 0 && r.seq < 64).map((r) => r.seq)).size;

  s.close();
  s.close();
  out.afterClose = {
    read: s.read(),
    readErrors: s.readErrors(),
    flush: s.flush(),
    queued: s.queued,
    queue: caught(() => s.queue(p, 64, '127.0.0.1')),
    closed: s.closed,
  };
  s.onReadable(() => {
    throw new Error('called after close');
  });
  s.onceWritable(() => {
    throw new Error('called after close');
  });
  return out;
}

/** A tiny send buffer behind a slow qdisc (tbf on lo): sendmmsg sends part, EAGAIN, onceWritable, the rest. */
async function partialSend(): Promise<unknown> {
  const s = open('ipv4', 'raw', { sndbufBytes: 1 });
  const c = new Collector(s, 'ipv4');
  const targets = v4Targets(200, 3);
  const packets = targets.map((ip, seq) => ({ buf: echo('ipv4', seq, 200), ip }));
  let firstFlush: { sent: number; lastSendError: string | null } | undefined;
  let writableCalls = 0;
  const result: SendResult = { sent: 0, flushes: 0, failures: {}, eagain: 0 };
  let next = 0;
  const started = Date.now();
  while (next < packets.length || s.queued > 0) {
    while (next < packets.length && s.queued < s.batchSize) {
      const p = packets[next++]!;
      s.queue(p.buf, p.buf.length, p.ip);
    }
    const before = s.queued;
    const sent = s.flush();
    result.sent += sent;
    result.flushes++;
    firstFlush ??= { sent, lastSendError: s.lastSendError ?? null };
    if (s.lastSendError === 'EAGAIN' || s.lastSendError === 'ENOBUFS') {
      if (s.queued !== before - sent) throw new Error('queued count wrong after a partial send');
      result.eagain++;
      await new Promise<void>((resolve) =>
        s.onceWritable(() => {
          writableCalls++;
          resolve();
        }),
      );
    } else if (s.lastSendError !== undefined) {
      result.failures[s.lastSendError] = (result.failures[s.lastSendError] ?? 0) + 1;
      s.discardFirst();
    }
    if (Date.now() - started > 20_000) break;
  }
  await c.until(() => new Set(c.replies.filter((r) => r.type === 0).map((r) => r.seq)).size >= packets.length, 10_000);
  const seqs = new Set(c.replies.filter((r) => r.type === 0).map((r) => r.seq));
  const out = { firstFlush, result, writableCalls, uniqueReplies: seqs.size, inOrderFirst: [...seqs].slice(0, 5) };
  s.close();
  return out;
}

/** Without SO_SELECT_ERR_QUEUE, transmit stamps make the socket poll as a bare POLLERR: still readable, never an error. */
async function bareErrQueue(): Promise<unknown> {
  const s = open('ipv4', 'raw', { noSelectErrQueue: true });
  const c = new Collector(s, 'ipv4');
  let failed: string | null = null;
  s.onError((err) => {
    failed = err.message;
  });
  const packets = v4Targets(100, 4).map((ip, seq) => ({ buf: echo('ipv4', seq), ip }));
  await sendAll(s, packets);
  await c.until(
    () =>
      c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp).length >= 100 &&
      c.replies.filter((r) => r.type === 0).length >= 100,
  );
  // A second round after the first error-queue wakeup re-armed the poll.
  await sendAll(
    s,
    packets.map((p, k) => ({ buf: echo('ipv4', 1000 + k), ip: p.ip })),
  );
  await c.until(
    () =>
      c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp).length >= 200 &&
      c.replies.filter((r) => r.type === 0).length >= 200,
  );
  const out = {
    txStamps: c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp).length,
    replies: c.replies.filter((r) => r.type === 0).length,
    failed,
    closed: s.closed,
  };
  s.close();
  return out;
}

/** A callback that throws reaches uncaughtException; the socket keeps working. GC never collects a polling socket. */
async function callbacks(): Promise<unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const uncaught: string[] = [];
  process.on('uncaughtException', (err) => {
    uncaught.push(err.message);
  });

  const s = open('ipv4', 'dgram');
  let calls = 0;
  s.onReadable(() => {
    calls++;
    while (s.read() === s.batchSize);
    while (s.readErrors() === s.batchSize);
    if (calls === 1) throw new Error('boom from onReadable');
  });
  await sendAll(s, [{ buf: echo('ipv4', 1), ip: '127.0.0.1' }]);
  await sleep(100);
  await sendAll(s, [{ buf: echo('ipv4', 2), ip: '127.0.0.1' }]);
  await sleep(100);
  const callsAfter = calls;
  s.close();

  // An unreferenced socket that polls stays alive and keeps calling back.
  let orphanEvents = 0;
  let orphanReplies = 0;
  const finalized: string[] = [];
  const registry = new FinalizationRegistry<string>((tag) => finalized.push(tag));
  ((): void => {
    const orphan = open('ipv4', 'raw');
    registry.register(orphan, 'orphan');
    orphan.onReadable(() => {
      orphanEvents++;
      for (let n = orphan.read(); ; n = orphan.read()) {
        for (let i = 0; i < n; i++) if (orphan.readBatch.data[i * orphan.readBatch.slotBytes] === 0) orphanReplies++;
        if (n < orphan.batchSize) break;
      }
      while (orphan.readErrors() === orphan.batchSize);
      if (orphanReplies >= 20) orphan.close();
    });
  })();
  const pinger = open('ipv4', 'dgram');
  for (let round = 0; round < 20 && orphanReplies < 20; round++) {
    gc();
    await sleep(10);
    gc();
    await sendAll(pinger, [{ buf: echo('ipv4', round), ip: '127.0.0.1' }]);
    await sleep(20);
    while (pinger.read() === pinger.batchSize);
    while (pinger.readErrors() === pinger.batchSize);
  }
  pinger.close();
  // Once closed, nothing holds the orphan: it may be collected.
  for (let i = 0; i < 5; i++) {
    gc();
    await sleep(20);
  }
  return { uncaught, callsAfter, orphanEvents, orphanReplies, finalizedAfterClose: finalized };
}

/** OPT_TSONLY transmit stamps: the copy comes from the addon's ring, keyed by the OPT_ID counter, also across failed sends. */
async function tsOnlyRing(mode: IcmpSocketMode): Promise<unknown> {
  const s = open('ipv4', mode, { tsOnly: true });
  const c = new Collector(s, 'ipv4');
  // 127.0.7.66 is dropped by an nft OUTPUT rule (EPERM after the kernel numbered the datagram);
  // 192.0.2.1 (TEST-NET-1) has no route in this namespace: the kernel refuses the send with
  // ENETUNREACH before numbering it, and no packet is ever emitted.
  const targets = v4Targets(150, 8).map((ip, k) => (k % 37 === 5 ? '127.0.7.66' : k % 41 === 7 ? '192.0.2.1' : ip));
  const packets = targets.map((ip, seq) => ({ buf: echo('ipv4', seq), ip }));
  const send = await sendAll(s, packets);
  const good = targets.filter((ip) => ip.startsWith('127.8.')).length;
  const txs = (): ErrEntry[] => c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp);
  await c.until(() => txs().length >= good);
  let mismatched = 0;
  const wantId = mode === 'dgram' ? s.identifier! : ECHO_ID;
  for (const t of txs()) {
    const seq = t.length >= 8 ? t.data.readUInt16BE(6) : -1;
    const sent = packets[seq];
    if (
      !sent ||
      t.length !== 24 ||
      t.data.readUInt16BE(4) !== wantId ||
      !t.data.subarray(8, 24).equals(sent.buf.subarray(8, 24)) ||
      formatAddress(addressBytes(sent.ip, 'ipv4'), 'ipv4') !== t.destination
    ) {
      mismatched++;
    }
  }
  const out = { tsOnly: s.tsOnly, send, good, txStamps: txs().length, mismatched, stats: s.stats() };
  s.close();
  return out;
}

/**
 * OPT_TSONLY stamps across ENOBUFS: 127.0.7.77 is dropped at lo's netdev egress hook, after the
 * kernel numbered the datagram, so the send fails with ENOBUFS (datagram sockets; raw sockets
 * without IP_RECVERR report success). Every stamp must still carry its own datagram's copy.
 */
async function tsOnlyEgressDrop(mode: IcmpSocketMode, once: boolean): Promise<unknown> {
  const s = open('ipv4', mode, { tsOnly: true });
  const c = new Collector(s, 'ipv4');
  // `once`: 127.0.7.88 is dropped only the first time, so sendmmsg stops there without an errno
  // and the next call sends that datagram after all.
  const targets = Array.from({ length: 40 }, (_, k) =>
    k % 10 === 5 ? (once ? '127.0.7.88' : '127.0.7.77') : '127.0.0.1',
  );
  const packets = targets.map((ip, seq) => ({ buf: echo('ipv4', seq), ip }));
  const failures: Record<string, number> = {};
  let sent = 0;
  for (const p of packets) s.queue(p.buf, p.buf.length, p.ip);
  let tries = 0;
  while (s.queued > 0) {
    const n = s.flush();
    sent += n;
    if (n > 0) tries = 0;
    const e = s.lastSendError;
    if (e === undefined) continue;
    failures[e] = (failures[e] ?? 0) + 1;
    // ENOBUFS is transient to the engine (it tries again once writable): so here, a few times.
    if (e === 'ENOBUFS' && ++tries < 3) continue;
    tries = 0;
    s.discardFirst();
  }
  const goodSeqs = targets.flatMap((ip, seq) => (ip !== '127.0.7.77' ? [seq] : []));
  const txs = (): ErrEntry[] => c.errors.filter((e) => e.kind === IcmpErrorKind.TxStamp);
  await c.until(() => txs().length >= goodSeqs.length);
  await sleep(20); // a stamp too many would show up too
  const stampSeqs = txs().map((t) => (t.length >= 8 ? t.data.readUInt16BE(6) : -1));
  const out = { tsOnly: s.tsOnly, sent, failures, goodSeqs, stampSeqs, stats: s.stats() };
  s.close();
  return out;
}

/** Packets an nft counter named `name` has counted (the test's ruleset defines them). */
function nftCounter(name: string): number {
  const out = execFileSync('nft', ['list', 'counter', 'inet', 'netscan_native', name], { encoding: 'utf8' });
  return Number(/packets (\d+)/.exec(out)?.[1] ?? -1);
}

function openError(fn: () => unknown): { code?: string; causeCode?: string; message: string } | null {
  try {
    (fn() as NativeIcmpSocket).close();
    return null;
  } catch (err) {
    return {
      code: (err as { code?: string }).code,
      causeCode: (err as { cause?: { code?: string } }).cause?.code,
      message: (err as Error).message,
    };
  }
}

/** tos/ttl, a source address and a device, seen by nft counters on the output hook; bad values refused at open. */
async function options(): Promise<unknown> {
  const out: Record<string, unknown> = {};
  const cases: Array<
    [
      string,
      IcmpFamily,
      IcmpSocketMode,
      { tos?: number; ttl?: number; sourceAddress?: string; interfaceName?: string },
      string,
    ]
  > = [
    ['v4raw', 'ipv4', 'raw', { tos: 0x20, ttl: 7, sourceAddress: '127.0.0.5', interfaceName: 'lo' }, '127.0.0.1'],
    ['v4dgram', 'ipv4', 'dgram', { tos: 0x20, ttl: 7, sourceAddress: '127.0.0.5' }, '127.0.0.1'],
    ['v6raw', 'ipv6', 'raw', { tos: 0x20, ttl: 7, sourceAddress: 'fd00:1::5', interfaceName: 'lo' }, 'fd00:1::1'],
    ['v6dgram', 'ipv6', 'dgram', { tos: 0x20, ttl: 7, sourceAddress: 'fd00:1::5' }, 'fd00:1::1'],
  ];
  for (const [name, family, mode, o, target] of cases) {
    const before = nftCounter(`${family}_marked`);
    const s = openNativeIcmpSocketWith({ family, mode, rcvbufBytes: 1 << 20, ...o });
    const c = new Collector(s, family);
    await sendAll(
      s,
      [1, 2, 3].map((seq) => ({ buf: echo(family, seq), ip: target })),
    );
    const replyType = family === 'ipv4' ? 0 : 129;
    await c.until(() => c.replies.filter((r) => r.type === replyType).length >= 3);
    out[name] = {
      marked: nftCounter(`${family}_marked`) - before,
      replies: c.replies.filter((r) => r.type === replyType).length,
    };
    s.close();
  }
  out.rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  out.noDevice = openError(() =>
    openNativeIcmpSocketWith({ family: 'ipv4', mode: 'raw', rcvbufBytes: 0, interfaceName: 'nosuchdev0' }),
  );
  out.wrongFamilySource = openError(() =>
    openNativeIcmpSocketWith({ family: 'ipv4', mode: 'dgram', rcvbufBytes: 0, sourceAddress: '::1' }),
  );
  out.foreignSource = openError(() =>
    openNativeIcmpSocketWith({ family: 'ipv4', mode: 'raw', rcvbufBytes: 0, sourceAddress: '192.0.2.1' }),
  );
  out.badTtl = openError(() => openNativeIcmpSocketWith({ family: 'ipv4', mode: 'raw', rcvbufBytes: 0, ttl: 0 }));
  return out;
}

/**
 * Teardown: a worker thread whose sockets are polling is terminated (Node unloads a worker's
 * addons before its loop runs the handles' close callbacks); sockets dropped without close()
 * are collected and their fds closed.
 */
async function lifecycle(): Promise<unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const addon = require(workerData);
     for (let i = 0; i < 5; i++) {
       const h = addon.open({ family: i % 2 ? 6 : 4, raw: true, rcvbuf: 1 << 20 }, () => { h.read(); h.readErrors(); });
       h.poll(3);
       globalThis['h' + i] = h;
     }
     parentPort.postMessage('open');
     setInterval(() => {}, 1000);`,
    { eval: true, workerData: nativeAddonPath() },
  );
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const whileOpen = fds() - before;
  const exitCode = await worker.terminate();
  await sleep(50);
  const afterTerminate = fds() - before;

  const base = fds();
  const baseLinks = new Set(
    readdirSync('/proc/self/fd').map((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`);
      } catch {
        return '?';
      }
    }),
  );
  // In a function of its own, so no frame of this one still points at the last socket.
  ((): void => {
    for (let i = 0; i < 50; i++) {
      const s = open(i % 2 ? 'ipv6' : 'ipv4', i % 4 < 2 ? 'raw' : 'dgram');
      if (i % 3 === 0) s.onReadable(() => {}); // polling, then closed: collectable again
      if (i % 3 === 0) s.close();
    }
  })();
  const dropped = fds() - base;
  for (let i = 0; i < 10 && fds() > base; i++) {
    gc();
    await sleep(20);
  }
  const links = readdirSync('/proc/self/fd')
    .map((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`);
      } catch {
        return '?';
      }
    })
    .filter((l) => !baseLinks.has(l));
  return { whileOpen, exitCode, afterTerminate, dropped, afterGc: fds() - base, links };
}

const scenarios: Record<string, () => Promise<unknown>> = {
  lifecycle,
  options,
  echo: () => echoScenario(args[0] as IcmpSocketMode, args[1] as IcmpFamily, Number(args[2] ?? 300)),
  permissions,
  icmpErrors: () => icmpErrors(args[0] as IcmpFamily),
  rawErrors: () => rawErrors(args[0] as IcmpFamily),
  hostile: () => hostile(args[0] as IcmpSocketMode, args[1] as IcmpFamily),
  batchEdges,
  partialSend,
  bareErrQueue,
  callbacks,
  tsOnlyRing: () => tsOnlyRing(args[0] as IcmpSocketMode),
  tsOnlyEgressDrop: () => tsOnlyEgressDrop(args[0] as IcmpSocketMode, args[1] === 'once'),
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exitCode = 2;
} else {
  run().then(
    (result) => console.log(JSON.stringify(result)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
