import { readFileSync } from 'node:fs';

/** The package version, read from package.json at load (not hard-coded, unlike the Go version). */
export const version: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'netscan' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate: the file sits at a different depth in src/ and dist/src/
    }
  }
  return '0.0.0-unknown';
})();
