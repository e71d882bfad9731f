// Key expiry, rotation with an overlap and the operator's key policies in a real browser; the
// effect on the keys is checked over real HTTP, as an API client sees it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, api, startGateway } from '../lib/gateway.mjs';
import { hydrated, launch, logIn, newPage, screenshot } from '../lib/browser.mjs';

const DAY = 24 * 3600 * 1000;

describe('expiry and rotation in the web app', () => {
  let gw, browser, page, token;
  let secret; // the key created through the UI

  before(async () => {
    gw = await startGateway();
    browser = await launch();
    page = await newPage(browser);
    token = await adminToken(gw.base);
    await logIn(page, gw.base);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  const userinfo = (key) => api(gw.base, 'GET', '/api/userinfo', { token: key });
  const row = (name) => page.locator(`tr[data-key="${name}"]`);

  test('create a key that expires in 7 days through the picker', async () => {
    await page.goto(`${gw.base}/settings/api-keys/new`);
    await hydrated(page);
    await page.getByLabel('Name').fill('soon-bot');
    await page.getByLabel('admin').check();
    const picker = page.getByLabel('Expires');
    // Without a lifetime limit "never" is offered and is the default.
    assert.equal(await picker.inputValue(), 'never');
    const date = page.locator('#expires-date');
    assert.ok(!(await date.isVisible()), 'the date input shows only for "On a date…"');
    await picker.selectOption('date');
    await date.waitFor();
    assert.equal(await date.getAttribute('max'), null);
    await screenshot(page, 'key-new-expiry-date');
    await picker.selectOption('7');
    assert.ok(!(await date.isVisible()));
    await screenshot(page, 'key-new-expiry');
    const before = Date.now();
    await page.getByRole('button', { name: 'Save' }).click();
    const field = page.getByLabel('Your new API key');
    await field.waitFor();
    secret = await field.inputValue();
    const key = (await api(gw.base, 'GET', '/api/api-keys/soon-bot', { token })).body;
    const expires = Date.parse(key.expires_at);
    assert.ok(Math.abs(expires - (before + 7 * DAY)) < 60_000, key.expires_at);
    assert.equal((await userinfo(secret)).status, 200);
  });

  test('the list marks it as expiring and says how many keys expire soon', async () => {
    // One key that expires much later, for contrast.
    const later = await api(gw.base, 'POST', '/api/api-keys', {
      token,
      body: { name: 'later-bot', groups: ['admin'], expires_at: new Date(Date.now() + 90 * DAY).toISOString() },
    });
    assert.equal(later.status, 201, JSON.stringify(later.body));
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await page.getByRole('status').getByText('1 key expires within 7 days.').waitFor();
    await row('soon-bot').getByText('Expires soon').waitFor();
    assert.equal(await row('later-bot').getByText('Expires soon').count(), 0);
    const when = row('soon-bot').locator('td[data-label="Expires"] time');
    assert.match(await when.innerText(), /^in (6|7) days$/);
    assert.match(await when.getAttribute('title'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await screenshot(page, 'keys-expiring');
  });

  test('rotate with a 1-hour overlap: the reveal, and both secrets work', async () => {
    const r = row('soon-bot');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Rotate API key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Rotate soon-bot' }).waitFor();
    // Escape closes it without rotating.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Rotate API key' }).click();
    await dialog.getByLabel('None: the old key stops working now').waitFor();
    assert.ok(await dialog.getByLabel('None: the old key stops working now').isChecked());
    await dialog.getByLabel('For 1 hour').check();
    await screenshot(page, 'key-rotate-dialog');
    await dialog.getByRole('button', { name: 'Rotate API key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('heading', { name: 'API key soon-bot rotated' }).waitFor();
    await page.getByText(/keeps working until/).waitFor();
    const fresh = await page.getByLabel('Your new API key').inputValue();
    assert.match(fresh, /^hpk_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(fresh, secret);
    assert.match(await page.locator('pre.mcp-config').innerText(), new RegExp(fresh));
    await screenshot(page, 'key-rotate-reveal');
    // Both secrets work during the overlap, as the same key.
    for (const key of [secret, fresh]) {
      const me = await userinfo(key);
      assert.equal(me.status, 200);
      assert.equal(me.body.name, 'soon-bot');
    }
    const key = (await api(gw.base, 'GET', '/api/api-keys/soon-bot', { token })).body;
    const until = Date.parse(key.previous_expires_at);
    assert.ok(Math.abs(until - (Date.now() + 3600 * 1000)) < 60_000, key.previous_expires_at);
    // Done goes back to the list, which shows the previous key and until when it works.
    await page.getByRole('button', { name: 'Done' }).click();
    await row('soon-bot').locator('.previous').getByText('works until').waitFor();
    assert.ok(!(await page.content()).includes(fresh.slice(8)));
    await screenshot(page, 'keys-rotated');
  });

  test('configure keeps the current expiry unless told otherwise', async () => {
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    const r = row('later-bot');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Configure' }).click();
    await page.waitForURL('**/configure');
    await hydrated(page);
    const picker = page.getByLabel('Expires');
    assert.equal(await picker.inputValue(), 'keep');
    await screenshot(page, 'key-configure-expiry');
    const before = (await api(gw.base, 'GET', '/api/api-keys/later-bot', { token })).body.expires_at;
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL('**/settings/api-keys');
    const kept = (await api(gw.base, 'GET', '/api/api-keys/later-bot', { token })).body.expires_at;
    assert.equal(kept, before);
  });

  test('an expired key reads "Expired"; Activate asks for a new expiry', async () => {
    const created = await api(gw.base, 'POST', '/api/api-keys', {
      token,
      body: { name: 'old-bot', groups: ['admin'], expires_at: new Date(Date.now() + 2000).toISOString() },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const old = created.body.key;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await userinfo(old)).status, 401);
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    const r = row('old-bot');
    await r.getByText('Expired', { exact: true }).waitFor();
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Activate API key' }).click();
    await page.waitForURL('**/configure?activate=1');
    await hydrated(page);
    await page.getByText('This key expired').waitFor();
    await page.getByLabel('Expires').selectOption('30');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL('**/settings/api-keys');
    await r.getByText('Active', { exact: true }).waitFor();
    assert.equal((await userinfo(old)).status, 200);
  });

  test('a key reported leaked is marked; it comes back only rotated or knowingly', async () => {
    const created = await api(gw.base, 'POST', '/api/api-keys', {
      token, body: { name: 'leaky-bot', groups: ['admin'] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const leaked = created.body.key;
    const report = () => api(gw.base, 'POST', '/api/api-keys/leaked', { body: { keys: [leaked] } });
    assert.equal((await report()).status, 202);
    assert.equal((await userinfo(leaked)).status, 401);
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    const r = row('leaky-bot');
    await r.getByText('Leak reported').waitFor();
    await screenshot(page, 'keys-leak-reported');

    // Activate leads to the configure page, which warns and wants the box ticked.
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Activate API key' }).click();
    await page.waitForURL('**/configure?activate=1');
    await hydrated(page);
    await page.getByText('was reported leaked').waitFor();
    await page.getByRole('button', { name: 'Save and activate' }).click();
    await page.locator('#accept_reported_secret-error').getByText('rotate the key').waitFor();
    assert.equal((await userinfo(leaked)).status, 401);
    await screenshot(page, 'key-activate-reported');
    await page.getByLabel('Bring back the reported secret anyway').check();
    await page.getByRole('button', { name: 'Save and activate' }).click();
    await page.waitForURL('**/settings/api-keys');
    await r.getByText('Active', { exact: true }).waitFor();
    assert.equal(await r.getByText('Leak reported').count(), 0);
    assert.equal((await userinfo(leaked)).status, 200);

    // Reported again; this time the menu's Rotate gives it a secret nobody has seen, with no
    // overlap to choose, and the key stays deactivated until activated in place.
    assert.equal((await report()).status, 202);
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await r.getByText('Leak reported').waitFor();
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Rotate API key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('the new secret works once the key is activated').waitFor();
    assert.equal(await dialog.getByLabel('For 1 hour').count(), 0);
    await screenshot(page, 'key-rotate-deactivated');
    await dialog.getByRole('button', { name: 'Rotate API key' }).click();
    await page.getByRole('heading', { name: 'API key leaky-bot rotated' }).waitFor();
    const fresh = await page.getByLabel('Your new API key').inputValue();
    assert.equal((await userinfo(fresh)).status, 401);
    const key = (await api(gw.base, 'GET', '/api/api-keys/leaky-bot', { token })).body;
    assert.equal(key.status, 'deactivated');
    assert.equal(key.leak_reported_at, null);
    await page.getByRole('button', { name: 'Done' }).click();
    await r.getByText('Actions').click();
    await r.getByRole('button', { name: 'Activate API key' }).click();
    await r.getByText('Active', { exact: true }).waitFor();
    assert.equal((await userinfo(fresh)).status, 200);
    assert.equal((await userinfo(leaked)).status, 401);
  });

  test('no script errors on any page', () => {
    assert.deepEqual(page.errors, []);
  });
});

describe('with a maximum lifetime and the unused-key policy', () => {
  let gw, browser, page, token;

  before(async () => {
    gw = await startGateway({
      HOOP_API_KEY_MAX_LIFETIME_DAYS: '30',
      HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS: '5',
    });
    browser = await launch();
    page = await newPage(browser);
    token = await adminToken(gw.base);
    await logIn(page, gw.base);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  test('the picker offers only what the limit allows, and says why', async () => {
    await page.goto(`${gw.base}/settings/api-keys/new`);
    await hydrated(page);
    const picker = page.getByLabel('Expires');
    const options = await picker.locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(options, ['7', '30', 'date']);
    assert.equal(await picker.inputValue(), '30');
    await page.getByText('Keys may live at most 30 days here').waitFor();
    await picker.selectOption('date');
    const max = await page.locator('#expires-date').getAttribute('max');
    const latest = new Date(Date.now() + 30 * DAY).toISOString().slice(0, 10);
    assert.equal(max, latest);
    await screenshot(page, 'key-new-expiry-limited');
    // A date past the limit is refused under the picker (the browser's own check aside).
    await page.getByLabel('Name').fill('too-long');
    await page.getByLabel('admin').check();
    await page.locator('#expires-date').evaluate((el) => el.removeAttribute('max'));
    await page.locator('#expires-date').fill(new Date(Date.now() + 60 * DAY).toISOString().slice(0, 10));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#expires_at-error').getByText('maximum lifetime of 30 days').waitFor();
  });

  test('the list says which keys the unused-key policy deactivates within 7 days', async () => {
    const created = await api(gw.base, 'POST', '/api/api-keys', {
      token,
      body: { name: 'idle-bot', groups: ['admin'], expires_at: new Date(Date.now() + 20 * DAY).toISOString() },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await page.getByRole('status').getByText(/will be deactivated within 7 days: idle-bot/).waitFor();
    await row(page, 'idle-bot').getByText(/Unused: deactivated/).waitFor();
    await screenshot(page, 'keys-unused-policy');
    assert.deepEqual(page.errors, []);
  });
});

describe('rotation without JavaScript', () => {
  let gw, browser, page, token;

  before(async () => {
    gw = await startGateway();
    browser = await launch();
    page = await newPage(browser, { javaScript: false });
    token = await adminToken(gw.base);
    await api(gw.base, 'POST', '/api/api-keys', { token, body: { name: 'nojs', groups: ['admin'] } });
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  test('the menu leads to a page that says the reveal needs JavaScript', async () => {
    await logIn(page, gw.base, undefined, { javaScript: false });
    await page.goto(`${gw.base}/settings/api-keys`);
    const r = row(page, 'nojs');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Rotate API key' }).click();
    await page.waitForURL('**/rotate');
    await page.getByText('Rotating needs JavaScript').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Rotate API key' }).isDisabled());
    await screenshot(page, 'nojs-rotate');
  });

  test('configure sets an expiry as a plain form post', async () => {
    await page.goto(`${gw.base}/settings/api-keys`);
    const r = row(page, 'nojs');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Configure' }).click();
    // Both fields are there without scripts; the date counts only for "On a date…".
    await page.locator('#expires-date').waitFor();
    await page.getByLabel('Expires').selectOption('date');
    const date = new Date(Date.now() + 10 * DAY).toISOString().slice(0, 10);
    await page.locator('#expires-date').fill(date);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL('**/settings/api-keys');
    const key = (await api(gw.base, 'GET', '/api/api-keys/nojs', { token })).body;
    assert.equal(key.expires_at, `${date}T00:00:00Z`);
  });
});

function row(page, name) {
  return page.locator(`tr[data-key="${name}"]`);
}
