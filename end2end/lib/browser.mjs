// Debian's Chromium, headless, driven by playwright-core. The flags keep it from reaching for
// the network this machine does not have.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN } from './gateway.mjs';

const shots = resolve(import.meta.dirname, '..', 'screenshots');
mkdirSync(shots, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/// How many times slower than this machine the browser's CPU runs (`E2E_CPU_THROTTLE`, 1: not
/// slowed): a slow laptop, where timing bugs of the client show that a fast run hides.
export const CPU_THROTTLE = Number(process.env.E2E_CPU_THROTTLE ?? 1);

/// A page at desktop width that fails the test on any uncaught script error or anything the
/// Content Security Policy blocked. Panics of the client that do not surface as a script error
/// (a panic in a spawned task: hydration mismatches) are reported on stderr with the message
/// that names the element, and kept in `page.panics`: they do not fail the run yet, because
/// one hydration mismatch ("expected a text node") still happens now and then (issue 26).
/// `bypassCSP` only for injecting test tools (axe), never for the pages' own behaviour.
export async function newPage(browser, { width = 1280, javaScript = true, bypassCSP = false } = {}) {
  const context = await browser.newContext({
    viewport: { width, height: 860 },
    javaScriptEnabled: javaScript,
    bypassCSP,
  });
  const page = await context.newPage();
  if (CPU_THROTTLE > 1) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_THROTTLE });
    // Everything waits longer on a slower CPU; what it waits for stays the same.
    page.setDefaultTimeout(30000 * Math.min(CPU_THROTTLE, 4) / 2);
  }
  page.errors = [];
  page.panics = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => {
    // E2E_CONSOLE=1 shows what the page says, for chasing a failure.
    if (process.env.E2E_CONSOLE && m.type() !== 'log') console.error(`[console.${m.type()}] ${m.text()}`);
    if (m.type() !== 'error') return;
    if (/Content Security Policy/i.test(m.text())) page.errors.push(m.text());
    if (/panicked at|hydration error occurred/i.test(m.text())) {
      page.panics.push(m.text());
      if (!process.env.E2E_CONSOLE) console.error(`client panic on ${page.url()}: ${m.text().split('\n')[0]}`);
    }
  });
  return page;
}

export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated]', { timeout: 15000 * CPU_THROTTLE });
}

export async function logIn(page, base, { email, password } = ADMIN, { javaScript = true } = {}) {
  await page.goto(`${base}/login`);
  if (javaScript) await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  if (javaScript) await hydrated(page);
}

/// Saves the page at desktop and phone widths.
export async function screenshot(page, name) {
  const size = page.viewportSize();
  await page.screenshot({ path: join(shots, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(shots, `${name}-390.png`), fullPage: true });
  await page.setViewportSize(size);
}

/// Saves one element at desktop and phone widths (scrolled into view first).
export async function screenshotElement(page, locator, name) {
  const size = page.viewportSize();
  await locator.scrollIntoViewIfNeeded();
  await locator.screenshot({ path: join(shots, `${name}-1280.png`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await locator.scrollIntoViewIfNeeded();
  await locator.screenshot({ path: join(shots, `${name}-390.png`) });
  await page.setViewportSize(size);
}
