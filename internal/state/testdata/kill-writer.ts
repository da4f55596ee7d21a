// Child process for the kill-during-write tests (spawned by state-file.test.ts, then SIGKILLed).
//   node --import tsx kill-writer.ts <state-file> <devices> hang
//     writes one snapshot; after the first chunk reaches the temp file prints "partial" and hangs.
//   node --import tsx kill-writer.ts <state-file> <devices> loop
//     writes snapshots forever, alternating <devices> and <devices>+1 devices, printing "wrote N".
import { FakeClock } from '../../testkit/fake-clock.js';
import { DeviceStore } from '../device-store.js';
import { nodeStateFs, type StateFs } from '../state-file.js';

const [path, countArg, mode] = process.argv.slice(2);
if (!path || !countArg || (mode !== 'hang' && mode !== 'loop')) {
  console.error('usage: kill-writer.ts <state-file> <devices> hang|loop');
  process.exit(2);
}
const count = Number(countArg);

let fs: StateFs = nodeStateFs;
if (mode === 'hang') {
  fs = {
    ...nodeStateFs,
    async openForWrite(p) {
      const fh = await nodeStateFs.openForWrite(p);
      let writes = 0;
      return {
        ...fh,
        async write(text) {
          if (writes++ === 0) {
            await fh.write(text);
            process.stdout.write('partial\n');
          }
          // Every later write never completes: the parent kills us with the temp file half written.
          await new Promise<void>(() => undefined);
        },
      };
    },
  };
  setInterval(() => undefined, 60_000);
}

const clock = new FakeClock();
const store = new DeviceStore({ clock, maxDevices: count + 1, stateFile: path, fs, snapshotChunkDevices: 100 });
for (let i = 0; i < count; i++) store.markSeen(`127.1.${(i >> 8) & 255}.${i & 255}`);
for (let n = 0; ; n++) {
  if (n % 2 === 1) store.markSeen('127.2.0.1');
  else store.remove('127.2.0.1');
  await store.snapshot();
  process.stdout.write(`wrote ${store.size}\n`);
}
