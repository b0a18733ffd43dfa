import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CATALOGUE } from '../dist/errors.js';

// The README's reference tables follow from the code: every error code with its status, every
// environment variable the configuration reads, every metric family the service registers.
const ROOT = join(import.meta.dirname, '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

function section(title: string): string {
  const start = readme.indexOf(`\n${title}\n`);
  if (start < 0) throw new Error(`README has no section ${title}`);
  const next = readme.slice(start + title.length + 2).search(/\n#{2,3} /);
  return readme.slice(start, next < 0 ? undefined : start + title.length + 2 + next);
}

t.test('the README lists every error code under its status, and no other', async (t) => {
  const listed = new Map<string, number>();
  for (const line of section('### Errors').split('\n')) {
    const row = /^\| (\d{3}) \| (.+) \|$/.exec(line);
    if (!row) continue;
    for (const code of row[2]!.matchAll(/`([a-z_]+)`/g)) listed.set(code[1]!, Number(row[1]));
  }
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) t.equal(listed.get(code), status, code);
  t.same([...listed.keys()].filter((code) => !(code in ERROR_CATALOGUE)), [], 'no code the catalogue lacks');
});

t.test('the README documents every environment variable the server reads', async (t) => {
  const sources = ['src/config.ts', 'src/server.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
  const read = new Set([...sources.matchAll(/env(?:\.|, ')([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!));
  t.ok(read.size >= 25, `${read.size} variables found in the configuration`);
  const documented = section('## Configuration');
  for (const name of read) t.match(documented, new RegExp(`\`${name}\``), name);
});

t.test('the README lists every metric family the service registers', async (t) => {
  const source = readdirSync(join(ROOT, 'src', 'metrics')).map((f) => readFileSync(join(ROOT, 'src', 'metrics', f), 'utf8')).join('\n');
  const families = [...source.matchAll(/name: '(slimmable_[a-z_]+)'/g)].map((m) => m[1]!);
  t.ok(families.length >= 12);
  const documented = section('## Metrics');
  for (const family of families) t.match(documented, new RegExp(`\`${family}\``), family);
});

t.test('nothing in the documentation speaks of issues or tasks given', async (t) => {
  const files = ['README.md', 'training/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), ...readdirSync(join(ROOT, 'models')).map((m) => `models/${m}/README.md`)];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    t.notMatch(text, /\bissues? \d|\bthe issue\b|issue's|\bticket\b/i, file);
  }
});
