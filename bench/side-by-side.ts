/**
 * Engines or settings side by side, round-robin and repeated: the detector's open loop (section 7's
 * load points) against several servers started together. Each load point runs on every server in
 * turn, and the whole grid `--repeats` times, so a slow moment of the machine hits every variant
 * alike, and the spread between repeats shows how far one load point moves on its own. Each round
 * starts the turn one server later (round r runs variant r first), so no variant always runs right
 * after the same one; `--fixed-order` keeps the listed order in every round (how runs before
 * 2026-12-02 were made). Each row records its position in the turn.
 *
 *   node dist-bench/side-by-side.js --variants '{"before":{"script":"bench/tmp/x/dist/server.js"},"now":{}}'
 *     [--loads 3] [--bursty 2] [--repeats 3] [--capacity 92] [--budget 20] [--seconds 8] [--fixed-order] [--out FILE]
 *
 * A variant is `{"env": {...}, "script": "path/to/server.js", "headers": {...}}`, all optional (this
 * build, defaults, the budget header alone); `{"headers": {"X-Model-Width": "0.25"}}` is a fixed width
 * on a server of its own, with the same history as every other variant's; `"points": ["steady 1x"]`
 * runs a variant at those load points only (a fixed width where it is a rival), which shortens a round.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fire, schedule, summarise } from './open-loop.js';
import { parseVariants, startVariants } from './server-process.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    variants: { type: 'string' },
    loads: { type: 'string', default: '3' },
    bursty: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '3' },
    capacity: { type: 'string', default: '92' },
    budget: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '8' },
    'fixed-order': { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'side-by-side.json') },
  },
});
const list = (value: string): number[] => (value === '' ? [] : value.split(',').map(Number));
const variants = parseVariants(args.variants);
// a point misspelt in `points` would leave its variant out of every round without a word
const runPoints = [...list(args.loads).map((load) => `steady ${load}x`), ...list(args.bursty).map((load) => `bursty ${load}x`)];
for (const [name, { points }] of Object.entries(variants)) {
  const unknown = (points ?? []).filter((point) => !runPoints.includes(point));
  if (unknown.length > 0) throw new Error(`variant "${name}": points ${JSON.stringify(unknown)} are not in this run (${runPoints.join(', ')})`);
}
const [budgetMs, seconds, capacity, repeats] = [Number(args.budget), Number(args.seconds), Number(args.capacity), Number(args.repeats)];
const MODEL = 'fashion-detector';
const image = fixture('scene-test-00000.png');

const servers = await startVariants(variants);
interface Listing { models: { name: string; widths: { width: number; accuracy: number }[] }[] }
const listing = (await (await fetch(`http://127.0.0.1:${servers[0]![1].port}/models`)).json()) as Listing;
const accuracy = new Map(listing.models.find((m) => m.name === MODEL)!.widths.map((w) => [w.width, w.accuracy]));

interface Row { variant: string; pattern: 'steady' | 'bursty'; load: number; repeat: number; position: number; within: number; servedWithin: number; delivered: number; errors: number; failures: Record<string, number>; widths: Record<string, number> }
const rows: Row[] = [];
try {
  for (let repeat = 0; repeat < repeats; repeat += 1) {
    for (const [pattern, loads] of [['steady', list(args.loads)], ['bursty', list(args.bursty)]] as const) {
      for (const load of loads) {
        const shift = args['fixed-order'] ? 0 : repeat % servers.length;
        const turn = [...servers.slice(shift), ...servers.slice(0, shift)].filter(([variant]) => variants[variant]!.points?.includes(`${pattern} ${load}x`) ?? true);
        for (const [position, [variant, server]] of turn.entries()) {
          const shots = schedule(load * capacity, seconds, pattern === 'bursty' ? { factor: 3, burstMs: 200, periodMs: 1000 } : undefined);
          const headers = { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs), ...variants[variant]!.headers };
          const target = { port: server.port, path: `/detect?model=${MODEL}`, body: image, headers };
          const s = summarise(await fire(target, shots), budgetMs, seconds, (width) => accuracy.get(width) ?? 0);
          rows.push({ variant, pattern, load, repeat, position, within: s.sloAttainment, servedWithin: s.servedWithin, delivered: s.deliveredAccuracy, errors: s.errors, failures: s.failures, widths: s.widths });
          console.log(`${pattern} ${load}x #${repeat + 1} ${variant.padEnd(16)} within ${(100 * s.sloAttainment).toFixed(1)}% (answers ${(100 * s.servedWithin).toFixed(1)}%) delivered ${(100 * s.deliveredAccuracy).toFixed(2)} errors ${s.errors}${s.errors ? ` ${JSON.stringify(s.failures)}` : ''} widths ${JSON.stringify(s.widths)}`);
          await new Promise((resolve) => setTimeout(resolve, 1000)); // let the queue drain
        }
      }
    }
  }
} finally {
  await Promise.all(servers.map(([, server]) => server.stop()));
}

console.log('\nmean over repeats (min-max): within budget % / delivered mAP@0.5 % / answers within %');
const points = [...new Set(rows.map((r) => `${r.pattern} ${r.load}x`))];
for (const point of points) {
  for (const variant of Object.keys(variants)) {
    const mine = rows.filter((r) => `${r.pattern} ${r.load}x` === point && r.variant === variant);
    if (mine.length === 0) continue;
    const pct = (f: (r: Row) => number): string => {
      const values = mine.map((r) => 100 * f(r));
      return `${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(1)} (${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)})`;
    };
    console.log(`${point.padEnd(10)} ${variant.padEnd(16)} ${pct((r) => r.within)} / ${pct((r) => r.delivered)} / ${pct((r) => r.servedWithin)}`);
  }
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ model: MODEL, budgetMs, seconds, capacity, repeats, rotated: !args['fixed-order'], variants, rows }, null, 2) + '\n');
console.log(`wrote ${args.out}`);
