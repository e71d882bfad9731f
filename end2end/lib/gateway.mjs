// Starts the real gateway binary on a free port with a fresh SQLite database, the way a user
// would run it, and stops it after the test.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
export const ADMIN = { email: 'admin@example.com', password: 'correct horse battery' };

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export async function startGateway(extraEnv = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'hoop-e2e-'));
  // The binary cargo built: in CARGO_TARGET_DIR when that is set (relative to the repository,
  // as cargo reads it), else in target/. HOOP_BIN names another.
  const targetDir = resolve(root, process.env.CARGO_TARGET_DIR ?? 'target');
  const bin = process.env.HOOP_BIN ?? join(targetDir, 'debug', 'hoop');
  const env = {
    ...process.env,
    HOOP_LISTEN: `127.0.0.1:${port}`,
    HOOP_DATA_DIR: dataDir,
    HOOP_SITE_ROOT: join(root, 'target', 'site'),
    HOOP_ADMIN_EMAIL: ADMIN.email,
    HOOP_ADMIN_PASSWORD: ADMIN.password,
    RUST_LOG: 'warn',
    ...extraEnv,
  };
  // The embedded SQLite default, whatever the calling shell has set.
  delete env.DATABASE_URL;
  delete env.API_KEY;
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/api/healthz`)).ok) break;
    } catch {}
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/// REST helpers for arranging a test and checking its effect as an API client would.
export async function api(base, method, path, { token, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function adminToken(base) {
  const { body } = await api(base, 'POST', '/api/localauth/login', { body: ADMIN });
  return body.token;
}
