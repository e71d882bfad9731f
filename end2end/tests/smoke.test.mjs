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

test('a limited address is told to wait, and even the right password does not sign in', async () => {
  const limited = await startGateway({ HOOP_AUTH_FAILURES_PER_MINUTE: '2' });
  try {
    const page = await newPage(browser);
    await page.goto(`${limited.base}/login`);
    await hydrated(page);
    await page.getByLabel('Email').fill('admin@example.com');
    for (const password of ['wrong 1', 'wrong 2', 'wrong 3']) {
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
    }
    await page.getByText(/Too many failed sign-in attempts from your address\. Try again in \d+ seconds?\./).waitFor();
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/Too many failed sign-in attempts/).waitFor();
    assert.match(page.url(), /\/login/);
    await screenshot(page, 'login-throttled');
    // 429s are the answer here, not script errors.
    assert.deepEqual(page.errors.filter((e) => !/429|Too Many/i.test(e)), []);
  } finally {
    await limited.stop();
  }
});
