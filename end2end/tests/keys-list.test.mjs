// The API keys list with more keys than a page: search, filters and sorting kept in the URL,
// by clicking (with JavaScript) and from a bookmarked URL (without).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, api, startGateway } from '../lib/gateway.mjs';
import { hydrated, launch, logIn, newPage, screenshot } from '../lib/browser.mjs';

describe('The API keys list', () => {
  let gw, browser, page, token;

  before(async () => {
    gw = await startGateway();
    browser = await launch();
    token = await adminToken(gw.base);
    for (const name of ['ops', 'ci']) {
      const res = await api(gw.base, 'POST', '/api/groups', { token, body: { name } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    // 60 keys: more than one page of 50. Every third in ops, the others in ci.
    for (let i = 0; i < 60; i++) {
      const name = `${i % 2 ? 'deploy' : 'backup'}-${String(i).padStart(2, '0')}`;
      const groups = [i % 3 === 0 ? 'ops' : 'ci'];
      const res = await api(gw.base, 'POST', '/api/api-keys', { token, body: { name, groups } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    for (const name of ['deploy-03', 'deploy-09']) {
      await api(gw.base, 'POST', `/api/api-keys/${name}/deactivate`, { token });
    }
    page = await newPage(browser);
    await logIn(page, gw.base);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  const names = async (p = page) =>
    p.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.key));

  test('a page holds 50 keys; Next page shows the rest, each once', async () => {
    await page.goto(`${gw.base}/settings/api-keys?sort=name`);
    await hydrated(page);
    const first = await names();
    assert.equal(first.length, 50);
    assert.deepEqual(first, [...first].sort());
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/cursor=/);
    await page.getByRole('link', { name: 'First page' }).waitFor();
    const second = await names();
    assert.equal(second.length, 10);
    assert.equal(new Set([...first, ...second]).size, 60);
    assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 0);
  });

  test('filtering by clicking puts the state in the URL', async () => {
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await page.getByLabel('Name contains').fill('deploy');
    await page.getByLabel('Status').selectOption('active');
    await page.getByLabel('Group').selectOption('ops');
    await page.getByLabel('Sort by').selectOption('-name');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/q=deploy/);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('status'), 'active');
    assert.equal(url.searchParams.get('group'), 'ops');
    assert.equal(url.searchParams.get('sort'), '-name');
    await hydrated(page);
    // Odd numbers are deploy keys, multiples of 3 are in ops: 15, 21, … 57 (not 3 or 9,
    // deactivated), newest name first.
    assert.deepEqual(await names(), ['deploy-57', 'deploy-51', 'deploy-45', 'deploy-39',
      'deploy-33', 'deploy-27', 'deploy-21', 'deploy-15']);
    // The form shows what is applied.
    assert.equal(await page.getByLabel('Name contains').inputValue(), 'deploy');
    assert.equal(await page.getByLabel('Group').inputValue(), 'ops');
    await screenshot(page, 'keys-filtered');
  });

  test('a bookmarked filtered URL works without JavaScript, pages included', async () => {
    const plain = await newPage(browser, { javaScript: false });
    await logIn(plain, gw.base, undefined, { javaScript: false });
    await plain.goto(`${gw.base}/settings/api-keys?q=deploy&status=deactivated`);
    assert.deepEqual(await names(plain), ['deploy-03', 'deploy-09']);
    assert.equal(await plain.getByLabel('Status').inputValue(), 'deactivated');
    // The form submits as a plain GET.
    await plain.getByLabel('Name contains').fill('backup');
    await plain.getByLabel('Status').selectOption('');
    await plain.getByLabel('Sort by').selectOption('name');
    await plain.getByRole('button', { name: 'Apply' }).click();
    await plain.waitForURL(/q=backup/);
    const first = await names(plain);
    assert.equal(first.length, 30);
    assert.ok(first.every((n) => n.startsWith('backup-')));
    // Paging without JavaScript: 60 keys by name, then the last 10.
    await plain.goto(`${gw.base}/settings/api-keys?sort=-name`);
    assert.equal((await names(plain)).length, 50);
    await plain.getByRole('link', { name: 'Next page' }).click();
    await plain.waitForURL(/cursor=/);
    assert.deepEqual(await names(plain), ['backup-18', 'backup-16', 'backup-14', 'backup-12',
      'backup-10', 'backup-08', 'backup-06', 'backup-04', 'backup-02', 'backup-00']);
    // Names lead to each key's page.
    const href = await plain.getByRole('link', { name: 'backup-00', exact: true }).getAttribute('href');
    assert.match(href, /^\/settings\/api-keys\/[0-9a-f-]{36}$/);
    assert.deepEqual(plain.errors, []);
    await plain.context().close();
  });

  test('no match says so, with a way back to every key', async () => {
    await page.goto(`${gw.base}/settings/api-keys?q=nothing-like-this`);
    await hydrated(page);
    await page.getByRole('heading', { name: 'No API keys match these filters' }).waitFor();
    await page.locator('.no-match').getByRole('link', { name: 'Clear filters' }).click();
    await page.waitForURL((u) => u.search === '');
    // Navigated in place: the rows replace the message once the page has loaded.
    await page.locator('tbody tr').first().waitFor();
    assert.equal((await names()).length, 50);
  });

  test('a bad value in the URL is reported, not a broken page', async () => {
    await page.goto(`${gw.base}/settings/api-keys?status=retired`);
    await hydrated(page);
    await page.getByText(/status must be one of/).waitFor();
    assert.deepEqual(page.errors, []);
  });
});
