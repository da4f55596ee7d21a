import { Writable } from 'node:stream';
import type { Clock } from '../clock/clock.js';
import { createLogger } from '../log/log.js';
import type { Pinger } from '../model/ping.js';
import { ProbeThreadHost, type ProbeThreadHostOptions } from '../schedule/probe-thread-host.js';
import type { FromProbeThread, ToProbeThread } from '../schedule/probe-thread-protocol.js';
import type { ProbeThreadEvents, ProbeThreadSpawn } from '../schedule/probe-thread.js';
import type { StallMonitor } from '../schedule/stall-monitor.js';

/** Options for {@link inProcessProbeThread}. */
export interface InProcessProbeThreadOptions {
  /** The thread's clock (share the test's FakeClock). */
  clock: Clock;
  /** The thread's pinger. */
  pinger: Pinger;
  /** Stall detector for the thread's scheduler. */
  stallMonitor?: StallMonitor;
  /** Host tunables. */
  host?: Partial<ProbeThreadHostOptions>;
}

/** One spawned in-process thread. */
export interface InProcessThread {
  /** The thread's host. */
  readonly host: ProbeThreadHost;
  /** True once it exited (stopped, terminated or crashed). */
  readonly exited: boolean;
  /** Ends the thread as an uncaught error would. */
  crash(err: Error): void;
}

/**
 * A {@link ProbeThreadSpawn} that runs the probe thread's host in the test's own thread, behind the
 * same messages as the Worker: every message is structured-cloned (buffers transferred) and
 * delivered in a later microtask, and the host's logger relays its lines through the batches.
 */
export function inProcessProbeThread(opts: InProcessProbeThreadOptions): {
  spawn: ProbeThreadSpawn;
  threads: InProcessThread[];
} {
  const threads: InProcessThread[] = [];
  const spawn: ProbeThreadSpawn = (init, events: ProbeThreadEvents) => {
    let exited = false;
    const exit = (code: number, err: unknown): void => {
      if (exited) return;
      exited = true;
      queueMicrotask(() => events.exit(code, err));
    };
    const relay: { host?: ProbeThreadHost } = {};
    const lines = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line !== '') relay.host?.logLine(line);
        cb();
      },
    });
    const h = new ProbeThreadHost(
      {
        clock: opts.clock,
        pinger: opts.pinger,
        logger: createLogger({ level: init.logLevel, destination: lines as never }),
        ...(opts.stallMonitor ? { stallMonitor: opts.stallMonitor } : {}),
        post: (m: FromProbeThread, transfer: ArrayBuffer[]) => {
          if (exited) return;
          const copy = structuredClone(m, { transfer });
          queueMicrotask(() => events.message(copy));
        },
        stopped: () => exit(0, undefined),
      },
      structuredClone(init),
      opts.host,
    );
    relay.host = h;
    // A thread that ends takes its scheduler with it: stop it (its later posts are dropped).
    const kill = (code: number, err: unknown): void => {
      exit(code, err);
      h.receive({ cmds: [{ c: 'stop' }] });
    };
    threads.push({
      host: h,
      get exited() {
        return exited;
      },
      crash: (err) => kill(1, err),
    });
    return {
      post: (cmds) => {
        const copy = structuredClone({ cmds } satisfies ToProbeThread);
        queueMicrotask(() => {
          if (!exited) h.receive(copy);
        });
      },
      terminate: () => {
        kill(1, undefined);
        return Promise.resolve();
      },
    };
  };
  return { spawn, threads };
}
