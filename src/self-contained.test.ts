import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository stands alone (docs/design.md): code and docs never cite a document that is not in it.
const root = fileURLToPath(new URL('..', import.meta.url));
const self = relative(root, fileURLToPath(import.meta.url));

/** Names of documents that live outside the repository, and section references into them. */
const foreign: readonly RegExp[] = [
  /\bSTYLE\.md\b/,
  /\bpeers\.md\b/,
  /\bnetscan-parity\.md\b/,
  /\bicmp-sockets\.md\b/,
  /\bDEVELOPERS\.md\b/,
  /\.\.\/shared\b/,
  /\bparity §\s*\d/,
];

/** Every `line: text` in `text` that cites a document outside the repository. */
function foreignCitations(text: string): string[] {
  return text
    .split('\n')
    .map((line, i) => [i + 1, line] as const)
    .filter(([, line]) => foreign.some((re) => re.test(line)))
    .map(([n, line]) => `${n}: ${line.trim()}`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

test('the citation check recognises every outside document and leaves RFC sections alone', () => {
  // Matcher fixtures: sample lines the check must catch, not citations of this repository's own.
  const table: Array<[string, string[]]> = [
    ['// see STYLE.md rule 4', ['1: // see STYLE.md rule 4']],
    ['x\n * (peers.md §10 idea 6)', ['2: * (peers.md §10 idea 6)']],
    ['Go netscan (netscan-parity.md §3.1)', ['1: Go netscan (netscan-parity.md §3.1)']],
    ['icmp-sockets.md', ['1: icmp-sockets.md']],
    ['read DEVELOPERS.md first', ['1: read DEVELOPERS.md first']],
    ['copied from ../shared/reference', ['1: copied from ../shared/reference']],
    ['// counter bugs (parity §6.5)', ['1: // counter bugs (parity §6.5)']],
    ['// RFC 3414 §11.2: passphrases of at least 8 octets', []],
    ['// Go parity: 1024 bytes (docs/go-parity.md)', []],
    ['MYSTYLE.md and peers.mdx are not the same names', []],
  ];
  for (const [text, want] of table) assert.deepEqual(foreignCitations(text), want, text);
});

test('no code, config or doc cites a document that is not in the repository', () => {
  const files = [
    ...['cmd', 'src', 'internal', 'bench', 'scripts', 'deploy', 'docs'].flatMap(filesUnder),
    'README.md',
    'MANUAL.md',
    'config.yaml',
  ].filter((f) => f !== self);
  assert.ok(files.length > 100, `only ${files.length} files found; is the root right?`);
  const offenders: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(join(root, f));
    if (bytes.includes(0)) continue; // binary
    for (const hit of foreignCitations(bytes.toString('utf8'))) offenders.push(`${f}:${hit}`);
  }
  assert.deepEqual(offenders, []);
});
