import type { StateFileHandle, StateFs } from './state-file.js';

function enoent(path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`ENOENT: no such file or directory, '${path}'`);
  err.code = 'ENOENT';
  return err;
}

/**
 * An in-memory {@link StateFs} for tests: files are strings, written data becomes visible to
 * readFile only through rename (like a real temp-then-rename), and every call is recorded.
 * Fault injection: spread it and override one method.
 */
export class MemoryStateFs implements StateFs {
  /** Path -> content. */
  readonly files = new Map<string, string>();
  /** One line per call: `write <path> <bytes>`, `sync <path>`, `rename <from> <to>`, ... */
  readonly calls: string[] = [];

  async readFile(path: string): Promise<string> {
    this.calls.push(`read ${path}`);
    const text = this.files.get(path);
    if (text === undefined) throw enoent(path);
    return text;
  }

  async openForWrite(path: string): Promise<StateFileHandle> {
    this.calls.push(`open ${path}`);
    this.files.set(path, '');
    return {
      write: async (text) => {
        this.calls.push(`write ${path} ${text.length}`);
        this.files.set(path, (this.files.get(path) ?? '') + text);
      },
      sync: async () => {
        this.calls.push(`sync ${path}`);
      },
      close: async () => {
        this.calls.push(`close ${path}`);
      },
    };
  }

  async rename(fromPath: string, toPath: string): Promise<void> {
    this.calls.push(`rename ${fromPath} ${toPath}`);
    const text = this.files.get(fromPath);
    if (text === undefined) throw enoent(fromPath);
    this.files.delete(fromPath);
    this.files.set(toPath, text);
  }

  async unlink(path: string): Promise<void> {
    this.calls.push(`unlink ${path}`);
    if (!this.files.delete(path)) throw enoent(path);
  }

  async mkdirp(dirPath: string): Promise<void> {
    this.calls.push(`mkdirp ${dirPath}`);
  }

  async syncDir(dirPath: string): Promise<void> {
    this.calls.push(`syncdir ${dirPath}`);
  }
}
