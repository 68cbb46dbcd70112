// Drives the built-in dashboard of a running `mlops serve` in headless Chromium (Debian's
// chromium through playwright-core): sends traffic while the page is open, then checks that
// every panel shows numbers, and saves a screenshot.
//   node dashboard_page.mjs TOOLS_DIR http://127.0.0.1:PORT SCREENSHOT.png
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';

const [tools, base, screenshot] = process.argv.slice(2);
const { chromium } = createRequire(resolve(tools) + '/')('playwright-core');

// Waits are on conditions, bounded at 30 s: ctest runs this beside the chaos and fuzz tests,
// and a loaded 2-core machine renders slowly.
const row = JSON.stringify({ features: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5] });
async function traffic(round) {
  for (let i = 0; i < 30; i++) {
    const r = await fetch(`${base}/predict`, { method: 'POST', body: row,
      headers: { 'content-type': 'application/json', 'x-request-key': `caller-${i}` } });
    assert.equal(r.status, 200);
  }
  const update = await fetch(`${base}/crm_segment_update?customer_id=CUST00${round}`, { method: 'POST' });
  assert.equal(update.status, 200);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 720 } });
  const failed = [];
  page.on('requestfailed', (r) => failed.push(r.url()));
  page.on('pageerror', (e) => failed.push(String(e)));
  await page.goto(`${base}/dashboard`);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('live'), null, { timeout: 30000 });
  // Two rounds of traffic, each followed by a poll, so the rate is measured between polls.
  for (const round of [1, 2]) {
    await traffic(round);
    const before = await page.textContent('#rate-total');
    await page.waitForFunction((b) => document.getElementById('rate-total').textContent !== b, before, { timeout: 30000 });
  }
  await page.waitForFunction(() => Number(document.getElementById('rate-value').textContent) > 0, null, { timeout: 30000 });

  const number = async (selector) => Number(await page.textContent(selector));
  assert.ok(await number('#rate-total') >= 60, 'the prediction total counts the requests');
  assert.ok(await number('#rate-value') > 0, 'a prediction rate is shown');
  assert.equal(await page.locator('#rate-chart polyline').count(), 1, 'the rate chart is drawn');
  assert.equal(await number('#crm-total'), 2, 'both CRM updates are counted');
  assert.match(await page.textContent('#crm-rows'), /updated/);
  for (const q of ['#p50', '#p95', '#p99']) assert.match(await page.textContent(q), /^[\d.]+ (µs|ms|s)$/, q);
  assert.ok(await page.locator('#latency-chart rect').count() >= 10, 'one bar per latency bucket');
  const shares = await page.locator('#share tr').allTextContents();
  assert.equal(shares.length, 2, `a primary and a canary version: ${shares}`);
  const percent = (await page.locator('#share tr td:nth-child(3)').allTextContents())
    .map((s) => parseFloat(s)).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(percent - 100) < 0.5, `shares add up to 100 %: ${percent}`);
  assert.match(await page.textContent('#model'), /canary/);
  assert.deepEqual(failed, [], 'no request of the page failed and no script error');
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`dashboard OK: ${await page.textContent('#rate-total')} predictions, p95 ${await page.textContent('#p95')}; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
