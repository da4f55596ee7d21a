// Run under `ulimit -f 100` (100 KiB per file) by short-write.test.ts: the spool and the file
// output each hit the limit mid-write. Prints one JSON line with what each believed and what
// is on disk.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../testkit/logger.js';
import { FileTransport } from '../file-transport.js';
import { Spool } from '../spool.js';

const dir = process.argv[2]!;
const body = (tag: string, n: number): string =>
  Array.from({ length: n }, (_, i) => `m,t=${tag} v=${i}i ${i}`).join('\n');

const spool = new Spool({ dir: join(dir, 'spool'), maxBytes: 1 << 30, segmentBytes: 1 << 30, logger: silentLogger() });
await spool.open();
let spoolError = '';
for (let i = 0; i < 10 && spoolError === ''; i++) {
  try {
    await spool.append('primary', body(`b${i}`, 1000), 1000);
  } catch (err) {
    spoolError = (err as Error).message;
  }
}
const spooledPoints = spool.pendingPoints;
await spool.close();
const reopened = new Spool({
  dir: join(dir, 'spool'),
  maxBytes: 1 << 30,
  segmentBytes: 1 << 30,
  logger: silentLogger(),
});
const recovered = await reopened.open();

const path = join(dir, 'out.lp');
const file = new FileTransport({ path, maxBytes: 0 });
let linesAccepted = 0;
let fileError = '';
for (let i = 0; i < 10 && fileError === ''; i++) {
  try {
    await file.send(body(`f${i}`, 1000), 'primary', new AbortController().signal);
    linesAccepted += 1000;
  } catch (err) {
    fileError = (err as Error).message;
  }
}
await file.close();
const text = readFileSync(path, 'utf8');
console.log(
  JSON.stringify({
    spoolError,
    spooledPoints,
    recoveredPoints: recovered.points,
    truncatedBytes: recovered.truncatedBytes,
    fileError,
    linesAccepted,
    linesInFile: text.split('\n').filter((l) => l !== '').length,
    endsWithNewline: text.endsWith('\n'),
    fileBytes: statSync(path).size,
  }),
);
