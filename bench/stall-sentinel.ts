/**
 * A sentinel beside a load run (`misses-by-width.ts --stalls`), in a process of its own: it sleeps
 * 1 ms at a time and notes every longer gap (a pause of the whole machine shows there; a busy machine
 * does not, since a sleeper is scheduled first), and every 10 ms it reads how long each thread of
 * the server (argv[2]) and of the load generator (its parent) ran and waited for a core
 * (/proc/<pid>/task/<tid>/schedstat), summed into 50 ms windows per thread ("server:tid:name").
 * On SIGTERM it prints both as JSON and exits. Reading /proc costs it a few % of a core.
 *
 *   node dist-bench/stall-sentinel.js SERVER_PID
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface SentinelReport {
  /** ms between two ticks of a 1 ms timer, where over 10 */
  gaps: number[];
  /** per window of about 50 ms: its length and, per thread that ran or waited, [ms run, ms waiting for a core] */
  windows: { ms: number; threads: Record<string, [number, number]> }[];
}

const TICK_MS = 1;
const READ_EVERY_MS = 10;
const WINDOW_MS = 50;
const GAP_MS = 10;

const roles: Record<string, string> = { server: process.argv[2] ?? '', load: String(process.ppid) };
const report: SentinelReport = { gaps: [], windows: [] };

/** ns run and waiting for a core so far, per "role:tid:name" (the main thread named "main"). */
function readThreads(): Map<string, [number, number]> {
  const threads = new Map<string, [number, number]>();
  for (const [role, pid] of Object.entries(roles)) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // the process has ended
    }
    for (const tid of tids) {
      try {
        const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
        const name = tid === pid ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        threads.set(`${role}:${tid}:${name}`, [run!, wait!]);
      } catch {
        // the thread ended between listing and reading
      }
    }
  }
  return threads;
}

let last = performance.now();
let lastRead = last;
let previous = readThreads();
let window = { since: last, threads: {} as Record<string, [number, number]> };

setInterval(() => {
  const now = performance.now();
  if (now - last > GAP_MS) report.gaps.push(now - last);
  last = now;
  if (now - lastRead < READ_EVERY_MS) return;
  lastRead = now;
  const current = readThreads();
  for (const [key, [run, wait]] of current) {
    const before = previous.get(key);
    if (!before || (run === before[0] && wait === before[1])) continue;
    const sum = (window.threads[key] ??= [0, 0]);
    sum[0] += (run - before[0]) / 1e6;
    sum[1] += (wait - before[1]) / 1e6;
  }
  previous = current;
  if (now - window.since >= WINDOW_MS) {
    report.windows.push({ ms: now - window.since, threads: window.threads });
    window = { since: now, threads: {} };
  }
}, TICK_MS);

// stdout is a pipe: exit once the report is written, not before
process.on('SIGTERM', () => process.stdout.write(JSON.stringify(report), () => process.exit(0)));
