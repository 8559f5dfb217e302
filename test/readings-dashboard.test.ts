/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the
 * whole local stack (`npm start` as a user runs it) with the simulator posting: the page
 * opens from the banner's link, shows the fleet, draws a chart with points, and shows a new
 * reading without a reload; no console error, no CSP violation. The screenshot is kept in
 * test-results/ (gitignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from './support/net.ts';
import { createRegistryClient } from './support/registry-client.ts';
import { stackEnv, startStackProcess, type StackProcess } from './support/stack-process.ts';

const ROOT = join(import.meta.dirname, '..');
const ARTIFACTS = join(ROOT, 'test-results');
const CHROMIUM = '/usr/bin/chromium';

let dataDir: string;
let profileDir: string;
let stack: StackProcess;
let simulator: ChildProcess | undefined;
let browser: BrowserContext | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'readings-dashboard-'));
  profileDir = mkdtempSync(join(tmpdir(), 'readings-chromium-'));
  // A fresh PGlite under a busy machine can take most of a minute to initialise.
  stack = await startStackProcess(await stackEnv(dataDir), { readyTimeoutMs: 120_000 });
  // Three simulated devices posting for the whole test, as `npm run simulate` does.
  simulator = spawn(process.execPath, ['scripts/simulate.ts', '--devices', '3', '--rate', '3', '--duration', '90', '--style', 'reading'], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'error' },
    stdio: 'ignore',
  });
}, 150_000);

afterAll(async () => {
  await browser?.close();
  simulator?.kill('SIGTERM');
  if (stack) {
    stack.child.kill('SIGTERM');
    await stack.exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(profileDir, { recursive: true, force: true });
}, 60_000);

it('shows the fleet and a live chart, and a new reading without a reload', async () => {
  const { urls, adminToken, readToken } = stack.state;
  expect(urls.readings).toBeTruthy();
  expect(readToken).toBeTruthy();
  const link = `${urls.readings}/#token=${encodeURIComponent(readToken!)}`;
  expect(stack.output()).toContain(link);

  // One device of the test's own, so that its values are known.
  const registry = createRegistryClient(urls.registry, adminToken);
  const created = await registry<{ credentials: { token: string }[] }>('POST', '/v1/devices', {
    deviceId: 'dash-probe',
    site: 'lab',
    credentials: [{ type: 'token' }],
  });
  expect(created.status).toBe(201);
  const deviceToken = created.body.credentials[0]!.token;
  // Registered, never heard from: the fleet marks it silent.
  expect((await registry('POST', '/v1/devices', { deviceId: 'dash-quiet', credentials: [] })).status).toBe(201);
  const post = async (metrics: Record<string, number>, ts?: number) => {
    const answer = await fetch(`${urls.bridge}/v1/devices/dash-probe/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ metrics, ...(ts ? { ts } : {}) }),
    });
    expect(answer.status).toBe(202);
  };
  const start = Date.now();
  for (let i = 0; i < 12; i++) await post({ temperature: 20 + (i % 4), humidity: 40 + i }, start - (12 - i) * 90_000);

  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));

  await page.goto(link);
  // The token left the address bar and stayed in storage.
  // (waitForFunction would poll with eval, which the page's CSP rightly forbids: locators and
  // polling from here instead.)
  await waitFor(() => !page.url().includes('token'), { what: 'the token to leave the address bar' });
  expect(await page.evaluate("localStorage.getItem('telemetry.readToken')")).toBe(readToken);

  // The fleet: the probe and the simulator's devices.
  await page.waitForSelector('tr[data-device="dash-probe"]', { timeout: 20_000 });
  await waitFor(async () => (await page.locator('#fleet tbody tr').count()) >= 5, { timeoutMs: 30_000, what: 'five devices in the fleet' });
  await page.locator('tr[data-device="dash-quiet"].silent .badge', { hasText: 'silent' }).waitFor({ timeout: 20_000 });
  expect(await page.locator('tr[data-device="dash-probe"].silent').count()).toBe(0);
  await page.click('tr[data-device="dash-probe"]');
  await page.selectOption('#metric', 'temperature');
  const points = async () => Number(await page.locator('#chart').getAttribute('data-points'));
  await waitFor(async () => (await points()) >= 5, { timeoutMs: 20_000, what: 'a chart with points' });
  expect(await page.locator('#chart canvas').count()).toBe(1);

  // A new reading reaches the fleet table and the chart while the page stays open.
  const pointsBefore = await points();
  // A mark on this document: a reload would start a new one without it.
  await page.evaluate('window.__sameDocument = true');
  await post({ temperature: 77.7, humidity: 12.5 });
  await page.locator('tr[data-device="dash-probe"] .values', { hasText: 'temperature=77.7' }).waitFor({ timeout: 30_000 });
  await page.locator('#chart[data-last-value="77.7"]').waitFor({ state: 'attached', timeout: 30_000 });
  expect(await points()).toBeGreaterThanOrEqual(pointsBefore);
  expect(await page.evaluate('window.__sameDocument === true')).toBe(true);

  // A device with nothing to chart: the chart before it does not stay under its title.
  const textOnly = await registry<{ credentials: { token: string }[] }>('POST', '/v1/devices', { deviceId: 'dash-text', credentials: [{ type: 'token' }] });
  const textAnswer = await fetch(`${urls.bridge}/v1/devices/dash-text/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${textOnly.body.credentials[0]!.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ metrics: { mode: 'eco' } }),
  });
  expect(textAnswer.status).toBe(202);
  await page.locator('tr[data-device="dash-text"]').waitFor({ timeout: 30_000 });
  await page.click('tr[data-device="dash-text"]');
  await page.locator('#chart-note', { hasText: 'no numeric metric' }).waitFor({ timeout: 10_000 });
  expect(await page.locator('#chart canvas').count()).toBe(0);

  // A metric only an earlier reading holds (a battery sent now and then) can be charted too.
  const mixed = await registry<{ credentials: { token: string }[] }>('POST', '/v1/devices', { deviceId: 'dash-mixed', credentials: [{ type: 'token' }] });
  const postMixed = async (metrics: Record<string, number>, ts: number) => {
    const answer = await fetch(`${urls.bridge}/v1/devices/dash-mixed/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mixed.body.credentials[0]!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ metrics, ts }),
    });
    expect(answer.status).toBe(202);
  };
  await postMixed({ pressure: 1013 }, Date.now() - 2 * 3_600_000);
  await postMixed({ battery: 3.7 }, Date.now() - 120_000);
  await postMixed({ temperature: 21 }, Date.now() - 1_000);
  const offered = () => page.locator('#metric option').allTextContents();
  await page.locator('tr[data-device="dash-mixed"] .values', { hasText: 'temperature=21' }).waitFor({ timeout: 30_000 });
  await page.click('tr[data-device="dash-mixed"]');
  await page.locator('#metric option[value="battery"]').waitFor({ state: 'attached', timeout: 10_000 });
  // The default hour: not the pressure of two hours ago.
  expect(await offered()).toEqual(['battery', 'temperature']);
  await page.selectOption('#metric', 'battery');
  await page.locator('#chart[data-device="dash-mixed"][data-last-value="3.7"]').waitFor({ state: 'attached', timeout: 10_000 });
  // A metric first sent while the page is open joins the choices; chosen, it stays chosen, and
  // offered, when a newer reading lacks it.
  await postMixed({ humidity: 55 }, Date.now() - 500);
  await page.locator('#metric option[value="humidity"]').waitFor({ state: 'attached', timeout: 30_000 });
  await page.selectOption('#metric', 'humidity');
  await page.locator('#chart[data-device="dash-mixed"][data-last-value="55"]').waitFor({ state: 'attached', timeout: 10_000 });
  await postMixed({ temperature: 22 }, Date.now());
  await page.locator('tr[data-device="dash-mixed"] .values', { hasText: 'temperature=22' }).waitFor({ timeout: 30_000 });
  expect([await page.locator('#metric').inputValue(), await offered()]).toEqual(['humidity', ['battery', 'humidity', 'temperature']]);
  await page.selectOption('#metric', 'battery');
  // A longer range offers what it holds; a shorter one again only its own, once its scan answers.
  await page.selectOption('#range', '86400000');
  await page.locator('#metric option[value="pressure"]').waitFor({ state: 'attached', timeout: 10_000 });
  await page.selectOption('#range', '900000');
  await page.locator('#metric option[value="pressure"]').waitFor({ state: 'detached', timeout: 10_000 });
  expect([await page.locator('#metric').inputValue(), await offered()]).toEqual(['battery', ['battery', 'humidity', 'temperature']]);
  await page.selectOption('#range', '3600000');

  // A metric scan that fails after another device was chosen says nothing about that device.
  const probeReadings = '**/v1/devices/dash-probe/readings**';
  await page.route(probeReadings, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"internal","message":"internal error"}' });
  });
  await page.click('tr[data-device="dash-probe"]');
  await page.click('tr[data-device="dash-mixed"]');
  await page.locator('#chart[data-device="dash-mixed"]').waitFor({ state: 'attached', timeout: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(await page.locator('#status').textContent()).not.toContain('metrics could not be listed');
  await page.unroute(probeReadings);

  // Answers that cross: the probe's series held back 1.5 s while another device is chosen.
  const rows = await page.locator('#fleet tbody tr').count();
  let other = '';
  for (let i = 0; i < rows && !other; i++) {
    const id = (await page.locator('#fleet tbody tr').nth(i).getAttribute('data-device')) ?? '';
    if (!id.startsWith('dash-')) other = id;
  }
  expect(other).not.toBe('');
  const probeSeries = '**/v1/devices/dash-probe/series**';
  await page.route(probeSeries, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await route.continue();
  });
  await page.click('tr[data-device="dash-probe"]');
  await page.click(`tr[data-device="${other}"]`);
  await page.locator(`#chart[data-device="${other}"]`).waitFor({ state: 'attached', timeout: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect([await page.locator('#chart-title').textContent(), await page.locator('#chart').getAttribute('data-device')]).toEqual([other, other]);
  await page.unroute(probeSeries);

  // A series that fails: no chart stays, and the status line says why.
  await page.route(probeSeries, (route) =>
    route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"internal","message":"internal error"}' }),
  );
  await page.click('tr[data-device="dash-probe"]');
  await page.locator('#chart-note', { hasText: 'No chart: 500: internal error' }).waitFor({ timeout: 10_000 });
  expect(await page.locator('#chart canvas').count()).toBe(0);
  await page.locator('#status', { hasText: 'the chart could not be loaded: 500' }).waitFor({ timeout: 10_000 });
  await page.unroute(probeSeries);

  // An answer that never comes: the refresh fails after its deadline, says so, and the next one
  // asks again (before, the refreshes stopped for good).
  const fleetPath = '**/v1/fleet?**';
  await page.route(fleetPath, () => undefined);
  await page.locator('#status', { hasText: 'refresh failed: no answer within 10 s' }).waitFor({ timeout: 30_000 });
  await page.unroute(fleetPath);
  await page.locator('#status', { hasText: 'updated' }).waitFor({ timeout: 15_000 });

  // The token forgotten, then entered again: the device chosen before is shown again.
  const chosenBefore = await page.locator('#chart-title').textContent();
  await page.click('#forget-token');
  await page.locator('#token-form').waitFor({ state: 'visible', timeout: 5_000 });
  expect(await page.locator('#chart-section').isHidden()).toBe(true);
  await page.fill('#token-input', readToken!);
  await page.press('#token-input', 'Enter');
  await page.locator('#chart-section').waitFor({ state: 'visible', timeout: 10_000 });
  expect(await page.locator('#chart-title').textContent()).toBe(chosenBefore);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'readings-dashboard.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, 'readings-dashboard-phone.png'), fullPage: true });
  // The browser reports the 500 the test answered; nothing else.
  expect(problems.filter((p) => !p.includes('status of 500'))).toEqual([]);
}, 180_000);
