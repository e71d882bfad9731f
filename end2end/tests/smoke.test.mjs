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

test('a wrong password is told inline, with JavaScript and without', async () => {
  for (const javaScript of [true, false]) {
    const page = await newPage(browser, { javaScript });
    await page.goto(`${gw.base}/login`);
    if (javaScript) await hydrated(page);
    await page.getByLabel('Email').fill('admin@example.com');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Wrong email or password.').waitFor();
    assert.match(page.url(), /\/login/);
    if (javaScript) await screenshot(page, 'login-wrong-password');
    assert.deepEqual(page.errors, []);
  }
});
