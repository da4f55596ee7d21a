import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { Writable } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { systemClock } from '../clock/clock.js';
import { errorMessage } from '../errors/errors.js';
import { openNativeIcmpSocket } from '../icmp/native-socket.js';
import { IcmpSocketOpener } from '../icmp/open.js';
import { IcmpPinger } from '../icmp/pinger.js';
import { createLogger, type Logger } from '../log/log.js';
import { ProbeThreadHost } from './probe-thread-host.js';
import type { FromProbeThread, ProbeEngineSettings, ProbeThreadInit, ToProbeThread } from './probe-thread-protocol.js';
import type { ProbeThreadSpawn } from './probe-thread.js';

/** workerData of a probe thread. */
interface ProbeWorkerData {
  probeThread: true;
  init: ProbeThreadInit;
  engine: ProbeEngineSettings;
}

/**
 * tsx's register API as an absolute URL: an eval'd Worker resolves bare specifiers from the
 * process's working directory, which need not hold node_modules (an agent started elsewhere).
 */
function tsxApi(): string {
  return import.meta.resolve('tsx/esm/api');
}

/**
 * A {@link ProbeThreadSpawn} that runs the scheduler and its own ICMP engine (built from `engine`)
 * in a worker_threads Worker, this module being the worker's entry.
 */
export function spawnProbeWorker(engine: ProbeEngineSettings): ProbeThreadSpawn {
  return (init, events) => {
    const data: ProbeWorkerData = { probeThread: true, init, engine };
    const url = new URL(import.meta.url);
    // Run from TypeScript sources (tests): a Worker entry does not go through tsx's loader in Node 20.
    const w = url.pathname.endsWith('.ts')
      ? new Worker(
          `import(${JSON.stringify(tsxApi())}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`,
          {
            eval: true,
            workerData: data,
          },
        )
      : new Worker(url, { workerData: data });
    let failure: unknown;
    w.on('message', (m: FromProbeThread) => events.message(m));
    w.on('error', (err) => {
      failure = err;
    });
    w.on('exit', (code) => events.exit(code, failure));
    return {
      post: (cmds) => w.postMessage({ cmds } satisfies ToProbeThread),
      terminate: () => w.terminate().then(() => undefined),
    };
  };
}

/**
 * Sets this thread's nice value: on Linux every thread has its own, and setpriority(2) on a thread
 * id changes that thread only (/proc/thread-self names it). Refused (no CAP_SYS_NICE for a value
 * below the current one): one warning, and the thread keeps the priority it inherited.
 */
function renice(niceness: number, logger: Logger): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, niceness);
    logger.info({ nice: niceness, tid }, 'probe thread priority set');
  } catch (err) {
    logger.warn(
      { nice: niceness, err: errorMessage(err) },
      'probe thread priority not set (a nice value below the process needs CAP_SYS_NICE); it keeps the inherited one',
    );
  }
}

/** The worker's side: engine, logger relayed through the batches, the host on the parent port. */
async function runProbeWorker(data: ProbeWorkerData): Promise<void> {
  const port = parentPort!;
  const relay: { host?: ProbeThreadHost } = {};
  const early: string[] = [];
  const lines = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        if (relay.host) relay.host.logLine(line);
        else early.push(line);
      }
      cb();
    },
  });
  const logger = createLogger({ level: data.init.logLevel, destination: lines as never });
  if (data.init.niceness !== undefined) renice(data.init.niceness, logger);
  const e = data.engine;
  const opener = new IcmpSocketOpener({ mode: e.mode, open: openNativeIcmpSocket, logger });
  const engine = new IcmpPinger({
    clock: systemClock,
    logger,
    sourceIpv4: e.sourceIpv4,
    sourceIpv6: e.sourceIpv6,
    engine: {
      openSocket: opener.open,
      payloadBytes: e.payloadBytes,
      tos: e.tos,
      ttl: e.ttl,
      interfaceName: e.interfaceName,
    },
  });
  try {
    await engine.start();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    port.postMessage({
      t: 'failed',
      code: typeof code === 'string' ? code : 'ERR_ICMP_SOCKET',
      message: errorMessage(err),
    } satisfies FromProbeThread);
    port.close();
    return;
  }
  const host = new ProbeThreadHost(
    {
      clock: systemClock,
      pinger: engine,
      logger,
      post: (m, transfer) => port.postMessage(m, transfer),
      engine: { stats: () => engine.stats(), sockets: () => opener.sockets() },
      stopped: () => {
        engine
          .stop()
          .catch(() => undefined)
          .finally(() => port.close());
      },
    },
    data.init,
  );
  relay.host = host;
  for (const line of early.splice(0)) host.logLine(line);
  port.on('message', (m: ToProbeThread) => host.receive(m));
}

if (!isMainThread && (workerData as Partial<ProbeWorkerData> | null)?.probeThread === true)
  runProbeWorker(workerData as ProbeWorkerData).catch((err: unknown) => {
    // The thread ends with this error; the proxy logs and counts it.
    throw err;
  });
