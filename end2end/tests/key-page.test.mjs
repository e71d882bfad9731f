// A key at work: its own page (fields, clients, the 30-day usage chart and its table, audit
// events, exec sessions), the audit log and the sessions list, in a real browser after the key
// was used over real HTTP. Checked with axe-core at desktop and phone widths.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, api, startGateway } from '../lib/gateway.mjs';
import { hydrated, launch, logIn, newPage, screenshot, screenshotElement } from '../lib/browser.mjs';
import { assertAccessible } from '../lib/axe.mjs';

const AGENT = 'deploy-script/1.4 (e2e)';

/// The text a screen reader reads (visually hidden words included), on one line.
const spoken = async (locator) => (await locator.textContent()).replace(/\s+/g, ' ').trim();

/// Waits until the locator matches `n` elements (lists fill in after a client-side navigation).
async function rowsToBe(locator, n) {
  for (let i = 0; (await locator.count()) !== n; i++) {
    assert.ok(i < 100, `expected ${n} rows, found ${await locator.count()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a key at work in the web app', () => {
  let gw, browser, page, a11y, token, key, secret, expires;

  /// A request with the key, as a script would send it.
  const withKey = (method, path, body) =>
    fetch(gw.base + path, {
      method,
      headers: { authorization: `Bearer ${secret}`, 'user-agent': AGENT, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });

  before(async () => {
    gw = await startGateway();
    browser = await launch();
    page = await newPage(browser);
    a11y = await newPage(browser, { bypassCSP: true });
    token = await adminToken(gw.base);
    const created = await api(gw.base, 'POST', '/api/api-keys', {
      token,
      body: { name: 'deploy-bot', groups: ['admin'] },
    });
    assert.equal(created.status, 201);
    key = created.body;
    secret = key.key;

    // Three plain calls, two scripts that run and one the database refuses.
    for (let i = 0; i < 3; i++) assert.equal((await withKey('GET', '/api/userinfo')).status, 200);
    for (const script of ['SELECT count(*) FROM customers', 'SELECT 1', 'SELECT * FROM no_such_table']) {
      const res = await withKey('POST', '/api/connections/demo/exec', { script });
      assert.equal(res.status, 200, await res.text());
    }
    // Refused while deactivated; then working again with a later expiry.
    assert.equal((await api(gw.base, 'POST', `/api/api-keys/${key.id}/deactivate`, { token })).status, 200);
    assert.equal((await withKey('GET', '/api/userinfo')).status, 401);
    assert.equal((await api(gw.base, 'POST', `/api/api-keys/${key.id}/activate`, { token })).status, 200);
    expires = new Date(Date.now() + 30 * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
    assert.equal(
      (await api(gw.base, 'PUT', `/api/api-keys/${key.id}`, { token, body: { expires_at: expires } })).status,
      200,
    );
    // Use is counted in memory and written about once a second.
    for (let i = 0; ; i++) {
      const { body } = await api(gw.base, 'GET', `/api/api-keys/${key.id}/usage?days=1`, { token });
      const today = body.at(-1);
      if (today.requests >= 6 && today.refused >= 1 && today.execs >= 3) break;
      assert.ok(i < 100, `usage not flushed: ${JSON.stringify(today)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await logIn(page, gw.base);
    await logIn(a11y, gw.base);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  const keyUrl = () => `${gw.base}/settings/api-keys/${key.id}`;

  test('the key page shows everything in the key object', async () => {
    await page.goto(keyUrl());
    await hydrated(page);
    await page.getByRole('heading', { level: 1, name: /deploy-bot/ }).waitFor();
    const details = page.getByRole('region', { name: 'Details' });
    const fact = (name) => details.locator('dl.facts > div', { has: page.getByText(name, { exact: true }) });
    assert.match(await fact('Key').innerText(), /hpk_.{4}\*{39}/);
    assert.match(await fact('Status').innerText(), /Active/);
    assert.match(await fact('Groups').innerText(), /admin/);
    assert.match(await fact('Created').innerText(), /by admin@example\.com/);
    assert.ok((await fact('Expires').innerText()).includes(expires.slice(0, 10)));
    assert.match(await fact('Last used from').innerText(), /127\.0\.0\.1/);
    assert.match(await fact('Last user agent').innerText(), /deploy-script\/1\.4 \(e2e\)/);
    // Activated again, so no deactivation is shown.
    assert.equal(await fact('Deactivated').count(), 0);
    const clients = page.getByRole('region', { name: 'Recent clients' });
    assert.match(await clients.locator('tbody tr').first().innerText(), /127\.0\.0\.1[\s\S]*deploy-script/);
    // The list menu's actions are here too.
    for (const name of ['Configure', 'Rotate API key', 'Deactivate API key']) {
      await page.getByRole('link', { name, exact: true }).waitFor();
    }
    assert.deepEqual(page.errors, []);
  });

  test('the usage chart draws 30 days, with a description and a table of the same numbers', async () => {
    const chart = page.getByRole('img', { name: /Requests per day, last 30 days/ });
    await chart.waitFor();
    assert.equal(await page.locator('#usage-chart svg g.day').count(), 30);
    const desc = await page.locator('#usage-desc').textContent();
    assert.match(desc, /6 requests accepted, 1 refused, 3 execs/);
    assert.match(desc, /Busiest day \d{4}-\d\d-\d\d: 6 requests, 1 refused, 3 execs/);
    // Today's bar has all three parts.
    const today = page.locator('#usage-chart g.day').last();
    for (const part of ['rect.requests', 'rect.refused', 'rect.execs']) {
      assert.equal(await today.locator(part).count(), 1, part);
    }
    const table = page.locator('details.usage-table');
    assert.equal(await table.locator('table').isVisible(), false);
    await table.getByText('Usage by day, as a table').click();
    const todayRow = table.locator('tbody tr').first();
    const date = new Date().toISOString().slice(0, 10);
    assert.deepEqual(
      (await todayRow.locator('th, td').allInnerTexts()).map((t) => t.trim()),
      [date, '6', '1', '3'],
    );
    assert.equal(await table.locator('tbody tr').count(), 30);
    await screenshotElement(page, page.locator('#usage-chart'), 'key-usage-chart');
  });

  test("the key's audit events and sessions, with links to all of them", async () => {
    const events = page.getByRole('region', { name: 'Audit events' });
    const actions = (await events.locator('tbody td[data-label="Action"]').allInnerTexts()).map((t) => t.trim());
    for (const action of ['api_key.created', 'api_key.new_client', 'api_key.deactivated', 'api_key.activated', 'api_key.updated']) {
      assert.ok(actions.includes(action), `${action} in ${actions}`);
    }
    // Newest first.
    const ids = (await events.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.event))));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
    // A change shows both sides.
    const updated = events.locator('tbody tr', { has: page.getByText('api_key.updated', { exact: true }) });
    const change = updated.locator('ul.details li', { hasText: 'expires_at' });
    assert.equal(await spoken(change), `expires_at: from none → to ${expires.slice(0, 10)} ${expires.slice(11, 16)} UTC`);

    const sessions = page.getByRole('region', { name: 'Latest exec sessions' });
    assert.equal(await sessions.locator('tbody tr').count(), 3);
    assert.equal(await sessions.getByText('Succeeded').count(), 2);
    assert.equal(await sessions.getByText('Failed').count(), 1);
    assert.match(await sessions.locator('tbody tr').first().innerText(), /deploy-bot[\s\S]*demo/);
    // The whole page, with the day table folded again.
    await page.getByText('Usage by day, as a table').click();
    await screenshot(page, 'key-page');

    await events.getByRole('link', { name: 'All events for this key' }).click();
    await page.waitForURL((u) => u.pathname === '/settings/audit' && u.searchParams.get('target') === key.id);
    await hydrated(page);
    assert.equal(await page.getByLabel('Target').inputValue(), key.id);
    const targets = await page.locator('tbody td[data-label="Target"] a').allInnerTexts();
    assert.ok(targets.length >= 5);
    assert.ok(targets.every((t) => t === 'deploy-bot'), targets.join());
    await page.goBack();
    await hydrated(page);

    await page.getByRole('link', { name: 'All sessions of this key' }).click();
    await page.waitForURL((u) => u.pathname === '/sessions' && u.searchParams.get('caller') === key.id);
    await hydrated(page);
    await rowsToBe(page.locator('table.sessions tbody tr'), 3);
  });

  test('the audit log filters by action and links each entry to its target', async () => {
    await page.goto(`${gw.base}/settings/audit`);
    await hydrated(page);
    await screenshot(page, 'audit-log');
    await page.getByLabel('Action').fill('api_key.deactivated');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/settings\/audit\?.*action=api_key\.deactivated/);
    const rows = page.locator('table.events tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1);
    assert.equal(await page.getByLabel('Action').inputValue(), 'api_key.deactivated');
    assert.match(await rows.first().innerText(), /admin@example\.com\s+api_key\.deactivated\s+API key deploy-bot/);
    assert.equal(await spoken(rows.first().locator('ul.details')), 'status: from active → to deactivated');
    await rows.first().getByRole('link', { name: 'deploy-bot' }).click();
    await page.waitForURL(`**/settings/api-keys/${key.id}`);
    await page.getByRole('heading', { level: 1, name: /deploy-bot/ }).waitFor();

    // By actor: the key's own first use was recorded by the gateway, not by the admin.
    await page.goto(`${gw.base}/settings/audit?actor=nobody@example.com`);
    await page.getByText('No event matches these filters.').waitFor();
  });

  test('the audit log pages through older events', async () => {
    // 55 more events: more than a page of 50.
    for (let i = 0; i < 55; i++) {
      assert.equal((await api(gw.base, 'POST', '/api/groups', { token, body: { name: `team-${i}` } })).status, 201);
    }
    await page.goto(`${gw.base}/settings/audit`);
    await hydrated(page);
    const rows = page.locator('table.events tbody tr');
    assert.equal(await rows.count(), 50);
    assert.match(await rows.first().innerText(), /team-54/);
    await page.getByRole('link', { name: 'Older →' }).click();
    await page.waitForURL((u) => u.pathname === '/settings/audit' && u.searchParams.has('before'));
    await hydrated(page);
    await rows.filter({ hasText: /team-4\b/ }).waitFor();
    assert.match(await rows.first().innerText(), /team-4\b/);
    assert.equal(await page.getByRole('link', { name: 'Older →' }).count(), 0);
    await page.getByRole('link', { name: '← Newest' }).click();
    await page.waitForURL(/\/settings\/audit$/);
    await rowsToBe(rows, 50);
    assert.match(await rows.first().innerText(), /team-54/);
  });

  test('sessions filter by caller and connection', async () => {
    // One run by the admin, so the filter has something to leave out.
    assert.equal(
      (await api(gw.base, 'POST', '/api/connections/demo/exec', { token, body: { script: 'SELECT 2' } })).status,
      200,
    );
    await page.goto(`${gw.base}/sessions`);
    await hydrated(page);
    const rows = page.locator('table.sessions tbody tr');
    assert.equal(await rows.count(), 4);
    await page.getByLabel('Caller').fill('deploy-bot');
    await page.getByLabel('Connection').fill('demo');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/sessions\?caller=deploy-bot&connection=demo$/);
    await hydrated(page);
    await rowsToBe(rows, 3);
    await page.getByRole('link', { name: 'Clear' }).click();
    await page.waitForURL(/\/sessions$/);
    await rowsToBe(rows, 4);
    assert.equal(await page.getByLabel('Caller').inputValue(), '');
    assert.equal(await page.getByRole('link', { name: 'Clear' }).count(), 0);
    await screenshot(page, 'sessions');
    assert.deepEqual(page.errors, []);
  });

  test('a script stopped because its key was deactivated reads "Cancelled", with why', async () => {
    const doomed = await api(gw.base, 'POST', '/api/api-keys', {
      token, body: { name: 'doomed-bot', groups: ['admin'] },
    });
    assert.equal(doomed.status, 201);
    const forever = 'WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r';
    const running = api(gw.base, 'POST', '/api/connections/demo/exec', {
      token: doomed.body.key, body: { script: forever },
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await api(gw.base, 'POST', '/api/api-keys/doomed-bot/deactivate', { token })).status, 200);
    const answer = await running;
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
    assert.match(answer.body.message, /deactivated while the script ran/);
    await page.goto(`${gw.base}/sessions?caller=doomed-bot`);
    await hydrated(page);
    const row = page.locator('table.sessions tbody tr');
    await rowsToBe(row, 1);
    await row.getByText('Cancelled').waitFor();
    await row.getByText('the API key was deactivated').waitFor();
    await screenshot(page, 'sessions-cancelled');
    assert.deepEqual(page.errors, []);
  });

  test('an unknown key says so', async () => {
    const response = await page.goto(`${gw.base}/settings/api-keys/00000000-0000-4000-8000-000000000000`);
    assert.equal(response.status(), 404);
    await page.getByRole('heading', { name: 'API key not found' }).waitFor();
  });

  test('without JavaScript the page, the chart and its table are all there', async () => {
    const nojs = await newPage(browser, { javaScript: false });
    await logIn(nojs, gw.base, undefined, { javaScript: false });
    await nojs.goto(keyUrl());
    await nojs.getByRole('img', { name: /Requests per day/ }).waitFor();
    await nojs.getByText('Usage by day, as a table').click();
    assert.equal(await nojs.locator('details.usage-table tbody tr').count(), 30);
    await nojs.getByRole('link', { name: 'All sessions of this key' }).click();
    await nojs.waitForURL((u) => u.pathname === '/sessions' && u.searchParams.get('caller') === key.id);
    assert.equal(await nojs.locator('table.sessions tbody tr').count(), 3);
    await nojs.context().close();
  });

  test('no serious or critical accessibility violation, at 1280 and 390 px', async () => {
    const pages = [
      keyUrl(),
      `${gw.base}/settings/audit`,
      `${gw.base}/settings/audit?action=api_key.updated`,
      `${gw.base}/sessions`,
      `${gw.base}/settings/api-keys`,
      `${gw.base}/settings/api-keys?q=deploy&status=active&sort=-last_used_at`,
    ];
    for (const width of [1280, 390]) {
      await a11y.setViewportSize({ width, height: 860 });
      for (const url of pages) {
        await a11y.goto(url);
        await hydrated(a11y);
        // The table inside <details> is checked too.
        if (url === keyUrl()) await a11y.getByText('Usage by day, as a table').click();
        await assertAccessible(a11y, `${url} at ${width}px`);
      }
    }
  });

  test('no script errors or refused scripts on the pages the tests opened', () => {
    assert.deepEqual(page.errors, []);
  });

  test('a non-admin sees only their own sessions and no audit log', async () => {
    const created = await api(gw.base, 'POST', '/api/users', {
      token,
      body: { email: 'dev@example.com', name: 'Dev', password: 'dev password', groups: ['team-0'] },
    });
    assert.equal(created.status, 201);
    const dev = await newPage(browser);
    await logIn(dev, gw.base, { email: 'dev@example.com', password: 'dev password' });
    assert.equal(await dev.getByRole('link', { name: 'Audit log' }).count(), 0);
    await dev.getByRole('link', { name: 'Sessions' }).click();
    await dev.waitForURL('**/sessions');
    await dev.getByRole('heading', { name: 'No sessions' }).waitFor();
    const response = await dev.goto(`${gw.base}/settings/audit`);
    assert.equal(response.status(), 403);
    await dev.getByRole('heading', { name: /admins only/ }).waitFor();
    await dev.context().close();
  });
});
