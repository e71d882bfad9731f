// The quickest proof that the server renders and the wasm client hydrates: if this fails,
// every other browser test would fail for the same reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../lib/gateway.mjs';
import { hydrated, launch, newPage, screenshot } from '../lib/browser.mjs';

let gw, browser;
before(async () => {
  gw = await startGateway();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

test('/ sends a visitor to the login page, which hydrates', async () => {
  const page = await newPage(browser);
  await page.goto(`${gw.base}/`);
  assert.match(page.url(), /\/login/);
  await hydrated(page);
  await page.getByRole('heading', { level: 1, name: 'Sign in to hoop' }).waitFor();
  await screenshot(page, 'smoke-home');
  assert.deepEqual(page.errors, []);
});
