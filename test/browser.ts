/** Headless Chromium from Debian's `chromium` package, driven by playwright-core (no browser download). */
import type { Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { existsSync } from 'node:fs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** For t.test's options: skipped, saying why, where Chromium is not installed. */
export const NEEDS_CHROMIUM = { skip: CHROMIUM ? false : 'Chromium not installed (apt-get install chromium; .ci/run does)' };

export interface BrowserPage {
  page: Page;
  /** The app's address, listening on 127.0.0.1. */
  origin: string;
  /** Console errors and uncaught page errors so far. */
  problems: string[];
}

/** Listen on a free port, open a page in a fresh browser (closed at the test's end), and collect its errors. */
export async function openPage(t: Test, app: FastifyInstance, viewport?: { width: number; height: number }): Promise<BrowserPage> {
  const { chromium } = await import('playwright-core');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage(viewport ? { viewport } : {});
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return { page, origin: `http://127.0.0.1:${port}`, problems };
}
