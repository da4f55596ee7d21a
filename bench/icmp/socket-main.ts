// ICMP socket-layer benchmark: N = 65,534 echo requests to 127.0.0.0/16 (127.0.0.1 .. 127.0.255.254)
// and their replies, through the native addon (sendmmsg/recvmmsg batches of 64, kernel RX and TX
// stamps read too; once more without stamps, to show what they cost) and through raw-socket (one
// sendto/recvfrom per packet, what netscan used before), in one process inside a private network
// namespace. Reports packets per second and CPU
// microseconds per packet (user + system: on loopback the kernel builds the replies in the
// sender's context, the same for both).
//
//   node --import tsx bench/icmp/socket-main.ts [--json] [--rounds 3] [--count 65534]
//   (or the compiled dist/bench/icmp/socket-main.js)
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { openNativeIcmpSocketWith, type NativeIcmpSocket } from '../../internal/icmp/native-socket.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(argValue('--rounds') ?? 3);
const count = Math.min(65_534, Number(argValue('--count') ?? 65_534));

if (process.env.NETSCAN_BENCH_NETNS !== '1') {
  const script = [
    'set -e',
    'ip link set lo up',
    "echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range",
    'exec "$0" "$@"',
  ].join('\n');
  const res = spawnSync(
    'unshare',
    ['-n', '--', 'sh', '-c', script, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
    {
      stdio: 'inherit',
      env: { ...process.env, NETSCAN_BENCH_NETNS: '1' },
    },
  );
  if (res.error || res.status === null)
    console.error(
      `bench icmp-socket: cannot run inside a private namespace (needs root and unshare -n): ${res.error?.message ?? res.signal}`,
    );
  process.exit(res.status ?? 1);
}

interface Row {
  suite: 'icmp';
  case: string;
  [k: string]: number | string | boolean;
}
function emit(row: Row): void {
  if (json) {
    console.log(JSON.stringify(row));
  } else {
    const { suite: _s, case: name, ...rest } = row;
    const fields = Object.entries(rest).map(
      ([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(2)) : v}`,
    );
    console.error(`  ${name.padEnd(26)} ${fields.join('  ')}`);
  }
}

const ID = 0x4e53;
const PAYLOAD = 56;
const LENGTH = 8 + PAYLOAD;
const targets = Array.from({ length: count }, (_, i) => `127.0.${(i + 1) >> 8}.${(i + 1) & 0xff}`);

/** The same request for both paths: id, seq, a fixed payload, and the checksum updated for the seq. */
const packet = Buffer.alloc(LENGTH);
packet[0] = 8;
packet.writeUInt16BE(ID, 4);
for (let i = 8; i < LENGTH; i++) packet[i] = i;
let baseSum = 0;
for (let i = 0; i < LENGTH; i += 2) if (i !== 2 && i !== 6) baseSum += packet.readUInt16BE(i);
function setSeq(seq: number): void {
  packet.writeUInt16BE(seq, 6);
  let sum = baseSum + seq;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  packet.writeUInt16BE(~sum & 0xffff, 2);
}

interface Result {
  wallMs: number;
  userUs: number;
  sysUs: number;
  replies: number;
  txStamps: number;
}

// Replies are counted by type; stragglers are collected for up to a second after the last send.
async function settle(readAll: () => void, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 1000;
  while (!done() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1));
    readAll();
  }
}

async function runNative(mode: 'raw' | 'dgram', noStamps = false): Promise<Result> {
  const s: NativeIcmpSocket = openNativeIcmpSocketWith({ family: 'ipv4', mode, rcvbufBytes: 8 << 20 }, { noStamps });
  const rb = s.readBatch;
  const eb = s.errorBatch;
  let replies = 0;
  let txStamps = 0;
  const readAll = (): void => {
    for (;;) {
      const n = s.read();
      for (let i = 0; i < n; i++) if (rb.data[i * rb.slotBytes] === 0) replies++;
      if (n < s.batchSize) break;
    }
    for (;;) {
      const n = s.readErrors();
      for (let i = 0; i < n; i++) if (eb.kind[i] === 1) txStamps++;
      if (n < s.batchSize) break;
    }
  };
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    setSeq(i & 0xffff);
    s.queue(packet, LENGTH, targets[i]!);
    if (s.queued === s.batchSize || i === count - 1) {
      while (s.queued > 0) {
        s.flush();
        const e = s.lastSendError;
        if (e === 'EAGAIN' || e === 'ENOBUFS') readAll();
        else if (e !== undefined) s.discardFirst();
      }
      readAll();
    }
  }
  await settle(readAll, () => replies >= count && (noStamps || txStamps >= count));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const used = process.cpuUsage(cpu);
  s.close();
  return { wallMs, userUs: used.user, sysUs: used.system, replies, txStamps };
}

type RawModule = typeof import('raw-socket').default;
async function runRawSocket(): Promise<Result> {
  const raw = createRequire(import.meta.url)('raw-socket') as RawModule;
  const sock = raw.createSocket({
    protocol: raw.Protocol.ICMP,
    addressFamily: raw.AddressFamily.IPv4,
    bufferSize: 4096,
  });
  // As internal/icmp/socket.ts set it up: ICMP_FILTER (echo reply, unreachable, time exceeded), a large receive buffer.
  sock.setOption(255, 1, ~((1 << 0) | (1 << 3) | (1 << 11)) >>> 0);
  try {
    sock.setOption(1, 33, 8 << 20);
  } catch {
    sock.setOption(1, 8, 8 << 20);
  }
  sock.wrap.removeAllListeners('recvReady');
  sock.wrap.removeAllListeners('sendReady');
  const buf = Buffer.alloc(65536);
  let replies = 0;
  const onPacket = (b: Buffer, bytes: number): void => {
    if (bytes > 20 && b[(b[0]! & 15) * 4] === 0) replies++;
  };
  const noop = (): void => {};
  const readAll = (): void => {
    try {
      for (;;) sock.wrap.recv(buf, onPacket);
    } catch {
      // EAGAIN ends every drain (raw-socket throws it)
    }
  };
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    setSeq(i & 0xffff);
    try {
      sock.wrap.send(packet, 0, LENGTH, targets[i]!, noop);
    } catch {
      readAll();
    }
    if ((i & 63) === 63 || i === count - 1) readAll();
  }
  await settle(readAll, () => replies >= count);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const used = process.cpuUsage(cpu);
  sock.close();
  return { wallMs, userUs: used.user, sysUs: used.system, replies, txStamps: 0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const cases: Array<[string, () => Promise<Result>]> = [
  ['socket-native-raw', () => runNative('raw')],
  ['socket-native-dgram', () => runNative('dgram')],
  ['socket-native-raw-nostamp', () => runNative('raw', true)],
  ['socket-raw-socket', runRawSocket],
];
if (!json) console.error(`icmp socket layer: ${count} echo requests to 127.0.0.0/16, ${rounds} rounds (median)`);
const results = new Map<string, Result[]>(cases.map(([name]) => [name, []]));
await runNative('raw'); // warm-up: JIT, page cache
await runRawSocket();
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of cases) results.get(name)!.push(await fn());
}
for (const [name] of cases) {
  const rs = results.get(name)!;
  const wallMs = median(rs.map((x) => x.wallMs));
  const cpuUs = rs.map((x) => (x.userUs + x.sysUs) / count);
  emit({
    suite: 'icmp',
    case: name,
    packets: count,
    pps: Math.round(count / (wallMs / 1000)),
    cpuUsPerPacket: median(cpuUs),
    userUsPerPacket: median(rs.map((x) => x.userUs / count)),
    sysUsPerPacket: median(rs.map((x) => x.sysUs / count)),
    replies: Math.min(...rs.map((x) => x.replies)),
    txStamps: Math.min(...rs.map((x) => x.txStamps)),
  });
}
