/** Headless Debian Chromium driven by playwright-core (docs/design.md §8): a fresh profile per test file. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { requireBinary } from './ports';

const CHROMIUM = '/usr/bin/chromium';
// Playwright adds --headless itself; the rest keep the browser off the network and quiet.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumSession {
  /** A new tab; page errors and console errors are collected in `errors`. */
  newPage(viewport?: { width: number; height: number }): Promise<{ page: Page; errors: string[] }>;
  stop(): Promise<void>;
}

export async function startChromium(): Promise<ChromiumSession> {
  await requireBinary(CHROMIUM, 'chromium');
  const profile = await mkdtemp(join(tmpdir(), 'meterproof-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    async newPage(viewport = { width: 1280, height: 720 }) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()} (${m.location().url})`));
      return { page, errors };
    },
    async stop() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
