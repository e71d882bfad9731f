// The key lifecycle through a client generated from the gateway's own OpenAPI document
// (generated/api.ts, by openapi-typescript), as a REST client of hoop would do it. Requests and
// answers are typed by the document: `tsc --strict` fails on a document that mistypes them, and
// the run fails where the server does not do what the document says. The admin's password comes
// in the environment, never in argv; no secret is printed.
import createClient from "openapi-fetch";
import type { paths } from "./generated/api.js";

// The two things this uses from Node, declared rather than pulling in @types/node.
declare const process: { env: Record<string, string | undefined> };

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`not ok: ${what}`);
  console.log(`ok - ${what}`);
}

const same = (a: readonly string[], b: readonly string[]) =>
  JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

const api = createClient<paths>({ baseUrl: env("HOOP_URL") });

const login = await api.POST("/api/localauth/login", {
  body: { email: env("HOOP_ADMIN_EMAIL"), password: env("HOOP_ADMIN_PASSWORD") },
});
check(login.response.status === 200 && login.data !== undefined, "an admin logs in");
const admin = { Authorization: `Bearer ${login.data.token}` };

for (const name of ["client-readers", "client-writers"]) {
  const group = await api.POST("/api/groups", { headers: admin, body: { name } });
  check(group.response.status === 201 && group.data?.name === name, `group ${name} created`);
}

const created = await api.POST("/api/api-keys", {
  headers: admin,
  body: { name: "client-lifecycle", groups: ["client-readers"] },
});
check(created.response.status === 201 && created.data !== undefined, "a key is created (201)");
const { id, key } = created.data;
check(/^hpk_[A-Za-z0-9_-]{43}$/.test(key), "its secret is in the answer");
check(
  created.data.status === "active" && same(created.data.groups, ["client-readers"]),
  "active, in its group",
);
const asKey = { Authorization: `Bearer ${key}` };
const byId = { path: { name_or_id: id } };

const read = await api.GET("/api/api-keys/{name_or_id}", { headers: admin, params: byId });
check(read.response.status === 200 && read.data !== undefined, "the key reads back by id");
check(
  !("key" in read.data) && !read.data.masked_key.includes(key),
  "the secret is shown once only",
);
// Without parameters the answer is the plain array; with any, a page. The schema says
// "one of": a client tells them apart by shape.
const listed = await api.GET("/api/api-keys", { headers: admin });
check(
  Array.isArray(listed.data) && listed.data.some((k) => k.id === id),
  "the key is listed",
);
const found = await api.GET("/api/api-keys", {
  headers: admin,
  params: { query: { q: "client-lifecycle", limit: 10 } },
});
check(
  found.data !== undefined && !Array.isArray(found.data) &&
    found.data.items.length === 1 && found.data.items[0]?.id === id &&
    (found.data.next_cursor ?? null) === null,
  "a search answers a page holding the key",
);

const me = await api.GET("/api/userinfo", { headers: asKey });
check(me.response.status === 200 && me.data !== undefined, "the key authenticates");
check(me.data.auth_method === "api_key" && me.data.name === "client-lifecycle", "as itself");
check(me.data.id === id && same(me.data.groups, ["client-readers"]), "with its groups");

const changed = await api.PUT("/api/api-keys/{name_or_id}", {
  headers: admin,
  params: byId,
  body: { name: "client-renamed", groups: ["client-readers", "client-writers"] },
});
check(
  changed.response.status === 200 && changed.data?.name === "client-renamed",
  "the key is renamed",
);
check(same(changed.data.groups, ["client-readers", "client-writers"]), "and regrouped");
const renamed = await api.GET("/api/userinfo", { headers: asKey });
check(
  renamed.data?.name === "client-renamed" && renamed.data.groups.length === 2,
  "the same secret, the new name and groups",
);

const off = await api.POST("/api/api-keys/{name_or_id}/deactivate", {
  headers: admin,
  params: byId,
});
check(off.response.status === 200 && off.data?.status === "deactivated", "the key is deactivated");
const refused = await api.GET("/api/userinfo", { headers: asKey });
check(
  refused.response.status === 401 && typeof refused.error?.message === "string",
  "a deactivated key is refused (401)",
);
check(
  refused.response.headers.get("www-authenticate") === "Bearer",
  "with WWW-Authenticate: Bearer",
);

const on = await api.POST("/api/api-keys/{name_or_id}/reactivate", {
  headers: admin,
  params: byId,
});
check(on.response.status === 200 && on.data?.status === "active", "the key is reactivated");
const back = await api.GET("/api/userinfo", { headers: asKey });
check(
  back.response.status === 200 && back.data?.name === "client-renamed",
  "the same secret works again",
);

const audit = await api.GET("/api/audit", {
  headers: admin,
  params: { query: { limit: 50 } },
});
check(audit.response.status === 200 && audit.data !== undefined, "the audit log reads");
const actions = audit.data.filter((e) => e.target.id === id).map((e) => e.action);
const expected = ["api_key.created", "api_key.updated", "api_key.deactivated", "api_key.activated"];
for (const action of expected) {
  check(actions.includes(action), `the audit log has ${action}`);
}
check(audit.data.every((e) => !JSON.stringify(e).includes(key)), "and never the secret");
