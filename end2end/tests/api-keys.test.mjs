// Settings → API Keys in a real browser, with the key then used over real HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, api, startGateway } from '../lib/gateway.mjs';
import { hydrated, launch, logIn, newPage, screenshot } from '../lib/browser.mjs';

describe('API keys in the web app', () => {
  let gw, browser, page, token;
  let secret; // the key created through the UI

  before(async () => {
    gw = await startGateway();
    browser = await launch();
    page = await newPage(browser);
    token = await adminToken(gw.base);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  const userinfo = (key) => api(gw.base, 'GET', '/api/userinfo', { token: key });
  const row = (name) => page.locator(`tr[data-key="${name}"]`);

  test('visiting a page without a session leads to the login page and back', async () => {
    await page.goto(`${gw.base}/settings/api-keys`);
    assert.match(page.url(), /\/login\?next=%2Fsettings%2Fapi-keys$/);
    await screenshot(page, 'login');
    await logIn(page, gw.base);
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await page.getByRole('heading', { name: 'No API keys yet' }).waitFor();
    await screenshot(page, 'keys-empty');
  });

  test('create a key and read it once from the reveal', async () => {
    await page.getByRole('link', { name: 'Create new API key' }).first().click();
    await page.waitForURL('**/settings/api-keys/new');
    await hydrated(page);
    await page.getByLabel('Name').fill('ci-bot');
    await page.getByLabel('admin').check();
    await screenshot(page, 'key-new');
    await page.getByRole('button', { name: 'Save' }).click();
    const field = page.getByLabel('Your new API key');
    await field.waitFor();
    secret = await field.inputValue();
    assert.match(secret, /^hpk_[A-Za-z0-9_-]{43}$/);
    await page.getByText('It will not be shown again').waitFor();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    await screenshot(page, 'key-reveal');
  });

  test('the reveal also offers a .mcp.json for the key, with its own Copy button', async () => {
    await page.getByRole('heading', { name: 'For an AI agent: .mcp.json' }).waitFor();
    const config = JSON.parse(await page.locator('pre.mcp-config').innerText());
    assert.deepEqual(config, {
      mcpServers: {
        hoop: { type: 'http', url: `${gw.base}/api/mcp`, headers: { Authorization: `Bearer ${secret}` } },
      },
    });
    await page.getByRole('button', { name: 'Copy .mcp.json' }).click();
    await page.getByRole('button', { name: 'Copy .mcp.json' }).getByText('Copied').waitFor();
    assert.deepEqual(JSON.parse(await page.evaluate(() => navigator.clipboard.readText())), config);
    await screenshot(page, 'key-reveal-mcp');
  });

  test('the revealed key works on the REST API', async () => {
    const me = await userinfo(secret);
    assert.equal(me.status, 200);
    assert.equal(me.body.name, 'ci-bot');
    assert.equal(me.body.auth_method, 'api_key');
  });

  test('after a reload or going back the key is nowhere in the page', async () => {
    await page.reload();
    await hydrated(page);
    assert.ok(!(await page.content()).includes(secret.slice(8)));
    await page.getByRole('link', { name: 'Done' }).count().then((n) => assert.equal(n, 0));
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await page.goBack();
    await hydrated(page);
    assert.ok(!(await page.content()).includes(secret.slice(8)));
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await row('ci-bot').waitFor();
    assert.ok(!(await page.content()).includes(secret.slice(8)));
    assert.match(await row('ci-bot').innerText(), /hpk_.{4}\*{39}/);
    await screenshot(page, 'keys-list');
  });

  test('the create form shows 409 and 422 inline', async () => {
    await page.goto(`${gw.base}/settings/api-keys/new`);
    await hydrated(page);
    await page.getByLabel('Name').fill('ci-bot');
    await page.getByLabel('admin').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#name-error').getByText('already exists').waitFor();
    await page.getByLabel('Name').fill('bad name!');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#name-error').getByText('invalid API key name').waitFor();
    await screenshot(page, 'key-new-errors');
    await page.getByLabel('Name').fill('no-groups');
    await page.getByLabel('admin').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#groups-error').getByText('at least one group').waitFor();
  });

  test('configure renames the key and the same secret keeps working', async () => {
    await page.goto(`${gw.base}/settings/api-keys`);
    await hydrated(page);
    await row('ci-bot').getByText('Actions').click();
    await row('ci-bot').getByRole('link', { name: 'Configure' }).click();
    await page.waitForURL('**/configure');
    await hydrated(page);
    await page.getByText('does not change the secret').waitFor();
    await screenshot(page, 'key-configure');
    await page.getByLabel('Name').fill('ci-bot-renamed');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL('**/settings/api-keys');
    await row('ci-bot-renamed').waitFor();
    const me = await userinfo(secret);
    assert.equal(me.status, 200);
    assert.equal(me.body.name, 'ci-bot-renamed');
  });

  test('deactivate through the dialog, then activate: 401, then 200 again', async () => {
    const r = row('ci-bot-renamed');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Deactivate API key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Deactivate ci-bot-renamed?').waitFor();
    await screenshot(page, 'key-deactivate-dialog');
    // Escape closes the dialog without doing anything.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await userinfo(secret)).status, 200);

    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Deactivate API key' }).click();
    await dialog.getByRole('button', { name: 'Deactivate API key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await r.getByText('Deactivated', { exact: true }).waitFor();
    assert.equal(page.url(), `${gw.base}/settings/api-keys`);
    assert.equal((await userinfo(secret)).status, 401);
    await screenshot(page, 'keys-deactivated');

    await r.getByText('Actions').click();
    await r.getByRole('button', { name: 'Activate API key' }).click();
    await r.getByText('Active', { exact: true }).waitFor();
    assert.equal((await userinfo(secret)).status, 200);
  });

  test('groups can be listed and created', async () => {
    await page.goto(`${gw.base}/settings/groups`);
    await hydrated(page);
    await page.getByLabel('Name').fill('engineering');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.locator('.group-list').getByText('engineering').waitFor();
    await page.getByLabel('Name').fill('engineering');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.locator('#name-error').getByText('already exists').waitFor();
    await screenshot(page, 'groups');
  });

  test('a non-admin user sees the 403 page and no settings', async () => {
    const created = await api(gw.base, 'POST', '/api/users', {
      token,
      body: { email: 'dev@example.com', name: 'Dev', password: 'dev password', groups: ['engineering'] },
    });
    assert.equal(created.status, 201);
    const dev = await newPage(browser);
    await logIn(dev, gw.base, { email: 'dev@example.com', password: 'dev password' });
    assert.equal(await dev.getByRole('link', { name: 'API Keys' }).count(), 0);
    await dev.getByRole('heading', { name: 'No connections for you yet' }).waitFor();
    const response = await dev.goto(`${gw.base}/settings/api-keys`);
    assert.equal(response.status(), 403);
    await dev.getByRole('heading', { name: /admins only/ }).waitFor();
    await screenshot(dev, 'forbidden');
    assert.deepEqual(dev.errors, []);
    await dev.context().close();
  });

  test('connections list what the caller can reach, with the CLI example', async () => {
    // A connection an admin marked privileged on purpose (never connected to here).
    const created = await api(gw.base, 'POST', '/api/connections', {
      token,
      body: {
        name: 'warehouse', type: 'postgres', target: 'postgres://etl@127.0.0.1:1/warehouse',
        access_groups: ['admin'], privileged: true,
      },
    });
    assert.equal(created.status, 201);
    await page.goto(`${gw.base}/connections`);
    await hydrated(page);
    const demo = page.locator('li.connection', { hasText: 'demo' });
    await demo.getByText('hoop exec demo -i "SELECT 1"').waitFor();
    await demo.getByText('Groups: admin').waitFor();
    assert.equal(await demo.getByText('privileged').count(), 0);
    const warehouse = page.locator('li.connection', { hasText: 'warehouse' });
    const badge = warehouse.getByText('privileged', { exact: true });
    await badge.waitFor();
    assert.match(await badge.getAttribute('title'), /run programs/);
    await screenshot(page, 'connections');
  });

  test('no script errors on any page', () => {
    assert.deepEqual(page.errors, []);
  });
});

describe('without JavaScript', () => {
  let gw, browser, page, token, secret;

  before(async () => {
    gw = await startGateway();
    browser = await launch();
    page = await newPage(browser, { javaScript: false });
    token = await adminToken(gw.base);
    const created = await api(gw.base, 'POST', '/api/api-keys', { token, body: { name: 'nojs', groups: ['admin'] } });
    secret = created.body.key;
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  test('log in, deactivate through the confirmation page, activate again', async () => {
    await logIn(page, gw.base, undefined, { javaScript: false });
    await page.goto(`${gw.base}/settings/api-keys`);
    const r = page.locator('tr[data-key="nojs"]');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Deactivate API key' }).click();
    await page.waitForURL('**/deactivate');
    await screenshot(page, 'nojs-deactivate-page');
    await page.getByRole('button', { name: 'Deactivate API key' }).click();
    await page.waitForURL('**/settings/api-keys');
    await r.getByText('Deactivated', { exact: true }).waitFor();
    assert.equal((await api(gw.base, 'GET', '/api/userinfo', { token: secret })).status, 401);

    await r.getByText('Actions').click();
    await r.getByRole('button', { name: 'Activate API key' }).click();
    await page.waitForURL('**/settings/api-keys');
    await r.getByText('Active', { exact: true }).waitFor();
    assert.equal((await api(gw.base, 'GET', '/api/userinfo', { token: secret })).status, 200);
  });

  test('configure works as a plain form post', async () => {
    const r = page.locator('tr[data-key="nojs"]');
    await r.getByText('Actions').click();
    await r.getByRole('link', { name: 'Configure' }).click();
    await page.getByLabel('Name').fill('nojs-renamed');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL('**/settings/api-keys');
    await page.locator('tr[data-key="nojs-renamed"]').waitFor();
    assert.equal((await api(gw.base, 'GET', '/api/userinfo', { token: secret })).body.name, 'nojs-renamed');
  });

  test('the create page says it needs JavaScript and cannot be submitted', async () => {
    await page.goto(`${gw.base}/settings/api-keys/new`);
    await page.getByText('Creating a key needs JavaScript').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Save' }).isDisabled());
    await screenshot(page, 'nojs-create');
  });
});
