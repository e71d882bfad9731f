// Accessibility checks with axe-core, run inside the page. The pages' Content Security Policy
// admits only their own scripts, so axe is injected into a page opened with
// `newPage(browser, { bypassCSP: true })`; the pages under test keep their policy elsewhere.
import { resolve } from 'node:path';
import assert from 'node:assert/strict';

const axePath = resolve(import.meta.dirname, '..', 'node_modules', 'axe-core', 'axe.min.js');

/// Fails on any violation of impact serious or critical, listing each with its elements.
export async function assertAccessible(page, label) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    await page.addScriptTag({ path: axePath });
  }
  const { violations } = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }),
  );
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `  ${n.target.join(' ')}: ${n.failureSummary}`).join('\n')}`)
    .join('\n');
  assert.equal(bad.length, 0, `${label}: axe found serious or critical violations:\n${report}`);
  return violations;
}

