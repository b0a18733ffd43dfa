/**
 * Where the server's log lines go: stdout, written in batches, one write per 4 KB of lines or per
 * 200 ms, whichever comes first, instead of one blocking write per request on the event loop.
 *
 * A reader of stdout that stops reading (a stalled log collector) holds the writes back. While the
 * server runs that costs nothing but memory: the destination retries in the background. At exit,
 * though, what is left is flushed synchronously, and pino's own flush retries for as long as the
 * pipe stays full: the process would never exit, whatever SHUTDOWN_TIMEOUT_MS says (the main thread
 * sleeps in the retry, so no timer can fire). So this module flushes first, at exit, giving the
 * last lines EXIT_FLUSH_MS to go out, then gives them up with one line on stderr.
 */
import pino from 'pino';

const EXIT_FLUSH_MS = 1000;

type Destination = ReturnType<typeof pino.destination>;
const destinations = new Set<Destination>();
let exitingSince: number | undefined;

// registered when this module loads, before any destination exists, so it runs before pino's own
// exit flush (listeners run in the order they were added)
process.once('exit', () => {
  exitingSince = performance.now();
  for (const destination of destinations) {
    try {
      destination.flushSync();
    } catch (error) {
      // a stream already ended (pino ends it when the event loop empties) has nothing left to write
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EBUSY') process.stderr.write(`slimmable-serve: stdout was not read for ${EXIT_FLUSH_MS} ms at exit; the last log lines are dropped\n`);
    }
    destination.flushSync = () => undefined; // pino's exit flush would only wait again
  }
});

export function logDestination(): pino.DestinationStream {
  const destination = pino.destination({
    dest: 1,
    sync: false,
    minLength: 4096,
    periodicFlush: 200,
    // in the background, retry for as long as it takes; at exit, for EXIT_FLUSH_MS
    retryEAGAIN: () => exitingSince === undefined || performance.now() - exitingSince < EXIT_FLUSH_MS,
  });
  destinations.add(destination);
  destination.on('close', () => destinations.delete(destination));
  return destination;
}
