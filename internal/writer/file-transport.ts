import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LineTransport, WriteTarget } from './transport.js';

/** Options for {@link FileTransport}. */
export interface FileTransportOptions {
  /** Output file (line protocol, one point per line); parent directories are created. */
  path: string;
  /** Rotate when the file would grow past this many bytes; 0 disables rotation. */
  maxBytes: number;
  /** Rotated files kept (`<path>.1` newest ... `<path>.N` oldest); older ones are deleted. */
  maxFiles: number;
}

const LF = 0x0a;
const NEWLINE = Buffer.from('\n');

/** Defaults for {@link FileTransportOptions}. */
export const defaultFileTransportOptions = { maxBytes: 100 * 1024 * 1024, maxFiles: 5 } as const;

/**
 * Appends batches of line protocol to a local file, rotated by size like logrotate
 * (`out.lp` -> `out.lp.1` -> ... -> `out.lp.<maxFiles>`, then deleted). The embedded default
 * output when no server is configured; health points go to the same file. Unsigned fields are
 * written as integers (`i`): InfluxDB 1.x refuses `u`, and the file is meant to load anywhere
 * (MANUAL.md, "Loading the line-protocol file").
 */
export class FileTransport implements LineTransport {
  readonly name: string;
  readonly unsignedAsInteger = true;
  readonly #opts: FileTransportOptions;
  #fh: FileHandle | undefined;
  #size = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: Partial<FileTransportOptions> & Pick<FileTransportOptions, 'path'>) {
    this.#opts = { ...defaultFileTransportOptions, ...opts };
    this.name = `file ${opts.path}`;
  }

  send(body: string, _target: WriteTarget, _signal: AbortSignal): Promise<void> {
    return this.#enqueue([Buffer.from(body.endsWith('\n') ? body : `${body}\n`, 'utf8')]);
  }

  sendBytes(body: Buffer, _target: WriteTarget, _signal: AbortSignal): Promise<void> {
    return this.#enqueue(body.length > 0 && body[body.length - 1] === LF ? [body] : [body, NEWLINE]);
  }

  async close(): Promise<void> {
    await this.#chain;
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }

  /** Appends `data` (whole lines) after the appends already queued: concurrent batches never interleave within a line. */
  #enqueue(data: Buffer[]): Promise<void> {
    const run = this.#chain.then(() => this.#append(data));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #append(data: Buffer[]): Promise<void> {
    let length = 0;
    for (const d of data) length += d.length;
    if (!this.#fh) await this.#openFile();
    if (this.#opts.maxBytes > 0 && this.#size > 0 && this.#size + length > this.#opts.maxBytes) await this.#rotate();
    const fh = this.#fh!;
    const { bytesWritten } = data.length === 1 ? await fh.write(data[0]!) : await fh.writev(data);
    if (bytesWritten !== length) {
      // Disk or file-size limit: cut the partial lines off and fail the batch, so it is retried
      // (or spooled) instead of counted as written.
      await fh.truncate(this.#size).catch(() => undefined);
      throw new Error(`short write to ${this.#opts.path} (${bytesWritten} of ${length} bytes): disk full?`);
    }
    this.#size += length;
  }

  async #openFile(): Promise<void> {
    await mkdir(dirname(this.#opts.path), { recursive: true });
    this.#fh = await open(this.#opts.path, 'a');
    this.#size = (await stat(this.#opts.path)).size;
  }

  async #rotate(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
    const p = this.#opts.path;
    await rm(`${p}.${this.#opts.maxFiles}`, { force: true });
    for (let i = this.#opts.maxFiles - 1; i >= 1; i--)
      await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(() => undefined);
    if (this.#opts.maxFiles >= 1) await rename(p, `${p}.1`);
    else await rm(p, { force: true });
    await this.#openFile();
  }
}
