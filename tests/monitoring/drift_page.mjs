// Opens an `mlops drift --format html` report in headless Chromium (Debian's chromium
// through playwright-core): the verdict, one histogram per feature, no script or request,
// and a screenshot.
//   node drift_page.mjs TOOLS_DIR REPORT.html FEATURES SCREENSHOT.png
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [tools, report, features, screenshot] = process.argv.slice(2);
const { chromium } = createRequire(resolve(tools) + '/')('playwright-core');
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const requests = [];
  const errors = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(pathToFileURL(resolve(report)).href);
  assert.match(await page.textContent('#verdict'), /dataset drift/);
  assert.equal(await page.locator('.card svg').count(), Number(features), 'one histogram per feature');
  assert.ok(await page.locator('.card svg rect').count() >= 2 * Number(features), 'bars for both distributions');
  assert.equal(await page.locator('script').count(), 0, 'no script');
  assert.deepEqual(requests, [], 'nothing fetched from anywhere');
  assert.deepEqual(errors, []);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`drift report OK: ${await page.textContent('#verdict')}; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
