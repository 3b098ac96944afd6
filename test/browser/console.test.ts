/**
 * The operator console in real Chromium (issue 17): the login form takes the
 * admin token and nothing of it stays in the URL or the page; the map shows
 * the broker's datacenters with their state, live (server-sent events), and
 * a bridge that dies turns down on it without a reload; the meetings page
 * lists a live meeting with its participants by country and datacenter, and
 * ends it after a confirmation, audited; the fences page lights what the
 * decider allows a German participant, and who may use a Chinese datacenter;
 * the audit page's counts are those of `geobridge audit report --json` for
 * the same period, and its check finds the log intact; the 2020 incident's
 * manifest shows its fence errors on their lines and cannot be applied,
 * while the fixed one is applied and the history grows; and what-if shows
 * China refused with both its datacenters down, and Europeans refused in
 * part and the load moving when eu-central is down and Europe's demand
 * triples.
 * Without the session the console's API answers 401.
 *
 * SCREENSHOTS=1 also writes docs/images/console-login.png, console-map.png,
 * console-meetings.png, console-fences.png, console-audit.png,
 * console-manifest.png and console-whatif.png
 * (docs/console.md shows them).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { joinCall, until as untilTrue, type Caller } from '../../src/bridge/participant.fixture.js';
import { parseManifest } from '../../src/core/manifest/parse.js';
import { allowedJurisdictions } from '../../src/core/select/select.js';
import { checkManifest } from '../../src/core/verify/check.js';
import { launchChromium, until } from './chromium.fixture.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/geobridge.js');
const EXAMPLES = join(import.meta.dirname, '../../examples');

/** The totals of `geobridge audit report --json` the console shows. */
interface CliTotals {
  readonly records: { readonly total: number; readonly byType: { type: string; count: number }[] };
  readonly connections: { readonly total: number };
  readonly routeDecisions: { readonly total: number };
  readonly relays: { readonly total: number; readonly rows: { readonly e2ee: boolean | null; readonly hops: number }[] };
  readonly refusals: { readonly total: number };
  readonly outOfZone: { readonly total: number };
  readonly placements: { readonly rehomed: number };
  readonly manifests: { readonly changed: number };
}

const SHOTS = process.env.SCREENSHOTS === '1' ? join(import.meta.dirname, '../../docs/images') : undefined;
const DCS = ['us-east', 'eu-central', 'ap-tokyo'];
/** A loaded 2-core machine runs other test files beside this one. */
const WAIT_MS = 20_000;

let cluster: Cluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;
let page: Page;

beforeAll(async () => {
  let chromium;
  [cluster, chromium] = await Promise.all([startCluster(DCS, DCS), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await closeChromium();
  await cluster.close();
}, 60_000);

/** The state the map shows for a datacenter ('' while it is not drawn). */
function stateOnMap(dc: string): Promise<string> {
  return page.evaluate((id) => document.querySelector(`#world [data-datacenter="${id}"]`)?.getAttribute('data-state') ?? '', dc);
}

describe('the operator console', () => {
  it('answers 401 on its API without a session', async () => {
    for (const path of ['/v1/console/session', '/v1/console/overview', '/v1/console/meetings']) {
      const res = await fetch(new URL(path, cluster.broker.url));
      expect(res.status, path).toBe(401);
    }
  });

  it('logs in with the admin token, refusing a wrong one in words, and keeps the token out of the URL and the page', async () => {
    page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(new URL('/console', cluster.broker.url).href);
    await page.waitForSelector('#login-form', { state: 'visible' });
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-login.png') });
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-error:not([hidden])');
    expect(await page.textContent('#login-error')).toContain('not the admin token');
    await page.fill('#token', cluster.adminToken);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#page-map:not([hidden])');
    expect(page.url()).not.toContain(cluster.adminToken);
    expect(await page.content()).not.toContain(cluster.adminToken);
    expect(await page.inputValue('#token')).toBe('');
    // The session is an http-only cookie: the page's script cannot read it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const cookies = await context.cookies(cluster.broker.url);
    expect(cookies.find((c) => c.name === 'geobridge_console')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('shows every datacenter on the map and in the table, with its state', async () => {
    await until(async () => (await stateOnMap('us-east')) === 'up', WAIT_MS, 'us-east to show up on the map');
    for (const dc of DCS) expect(await stateOnMap(dc), dc).toBe('up');
    // A datacenter of the manifest without a bridge is down, in words as well as on the map.
    expect(await stateOnMap('cn-beijing')).toBe('down');
    expect(await page.textContent('#datacenters tr[data-datacenter="cn-beijing"] .state')).toBe('down');
    expect(await page.textContent('#datacenters tr[data-datacenter="us-east"] .state')).toBe('up');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-map.png'), fullPage: true });
  });

  it('turns a datacenter down on the map when its bridge dies, without a reload', async () => {
    const before = await page.evaluate(() => performance.timeOrigin);
    const killed = Date.now();
    await cluster.bridges.get('ap-tokyo')?.close();
    cluster.bridges.delete('ap-tokyo');
    await until(async () => (await stateOnMap('ap-tokyo')) === 'down', WAIT_MS, 'ap-tokyo to turn down');
    const ms = Date.now() - killed;
    console.log(JSON.stringify({ consoleBridgeDown: { datacenter: 'ap-tokyo', shownDownMs: ms } }));
    expect(await page.evaluate(() => performance.timeOrigin)).toBe(before);
    expect(await page.textContent('#live')).toMatch(/^Live · updated/);
  });

  it('lists a live meeting with its participants by country and datacenter and its end-to-end encryption, and ends it after a confirmation, audited', async () => {
    const meeting = await cluster.meeting('Board meeting');
    let caller: Caller | undefined;
    try {
      caller = await joinCall(cluster, meeting, 'Una', 'US', { e2ee: true });
      await untilTrue(() => caller?.datacenter() === 'us-east', WAIT_MS);
      await page.click('nav a[data-page="meetings"]');
      await page.waitForSelector(`article[data-meeting="${meeting}"]`, { timeout: WAIT_MS });
      const card = page.locator(`article[data-meeting="${meeting}"]`);
      expect(await card.locator('h2').textContent()).toBe('Board meeting');
      expect(await card.locator('.where').textContent()).toContain('held in us-east');
      // Una's SDK founds the meeting's MLS group; the bridge reports it with its next heartbeat, and the page shows it in words.
      await page.waitForFunction((id) => document.querySelector(`article[data-meeting="${id}"] .e2ee.on`) !== null, meeting, { timeout: WAIT_MS });
      expect(await card.locator('.e2ee').textContent()).toBe('end-to-end encrypted: MLS epoch 0, its participant holds the group');
      expect(await card.locator('li').allTextContents()).toEqual(['US → us-east: 1']);
      if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-meetings.png'), fullPage: true });
      const said: string[] = [];
      page.once('dialog', (dialog) => {
        said.push(dialog.message());
        void dialog.accept();
      });
      await card.locator('button', { hasText: 'End meeting' }).click();
      await page.waitForSelector(`article[data-meeting="${meeting}"]`, { state: 'detached', timeout: WAIT_MS });
      expect(said[0]).toContain('Board meeting');
      expect(said[0]).toContain('audit log');
      await untilTrue(() => caller?.events.some((e) => e.type === 'refused' || e.type === 'bridge-refused' || e.type === 'failed') === true, WAIT_MS);
      const records = await cluster.broker.context.audit.read();
      expect(records.some((r) => r.type === 'admin.action' && JSON.stringify(r.data).includes(meeting))).toBe(true);
    } finally {
      caller?.leave();
    }
  });

  it('lights only the jurisdictions a German participant may reach, as the decider says, and only China for a Chinese datacenter', async () => {
    await page.click('nav a[data-page="fences"]');
    await page.waitForSelector('#fence-country option[value="DE"]', { state: 'attached', timeout: WAIT_MS });
    await page.selectOption('#fence-country', 'DE');
    await page.waitForSelector('#fence-answer h2', { timeout: WAIT_MS });
    const shown = (): Promise<{ lit: string[]; chosen: string[]; onMap: string[] }> =>
      page.evaluate(() => {
        const codes = (selector: string): string[] => [...new Set([...document.querySelectorAll(selector)].map((p) => p.getAttribute('data-country') ?? ''))].sort();
        return { lit: codes('#fence-map path.lit'), chosen: codes('#fence-map path.chosen'), onMap: codes('#fence-map path[data-country]') };
      });
    const de = await shown();
    const allowed = allowedJurisdictions(cluster.broker.context.policy.current.manifest, { country: 'DE' });
    expect(de.chosen).toEqual(['DE']);
    expect(de.lit).toEqual(allowed.filter((j) => j !== 'DE' && de.onMap.includes(j)));
    expect(de.lit).toEqual(expect.arrayContaining(['FR', 'GB', 'JP']));
    expect(de.lit).not.toContain('US');
    expect(await page.textContent('#fence-answer')).toContain('eea-stays-in-eea-or-adequate');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-fences.png'), fullPage: true });
    await page.selectOption('#fence-datacenter', 'cn-beijing');
    await until(async () => (await page.textContent('#fence-answer h2')) === 'cn-beijing (CN)', WAIT_MS, 'the answer for cn-beijing');
    const beijing = await shown();
    expect([beijing.lit, beijing.chosen]).toEqual([['CN'], []]);
    expect(await page.inputValue('#fence-country')).toBe('');
  });

  it('shows the audit report of a period with the counts `geobridge audit report --json` gives, and the log intact', async () => {
    await page.click('nav a[data-page="audit"]');
    await page.waitForSelector('#audit-totals .stat', { timeout: WAIT_MS });
    const from = await page.inputValue('#audit-from');
    const to = await page.inputValue('#audit-to');
    type Totals = Record<string, number>;
    const shown = (): Promise<Totals> =>
      page.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLElement>('#audit-totals .stat')].map((t) => [t.dataset.total ?? '', Number((t.querySelector('b')?.textContent ?? '').replace(/,/g, ''))])));
    const fromCli = async (): Promise<{ totals: Totals; byType: { type: string; count: number }[] }> => {
      const { stdout } = await run(process.execPath, [BIN, 'audit', 'report', '--data', cluster.dataDir, '--from', from, '--to', to, '--json']);
      const t = (JSON.parse(stdout) as { report: { total: CliTotals } }).report.total;
      return {
        totals: { records: t.records.total, connections: t.connections.total, 'route decisions': t.routeDecisions.total, refusals: t.refusals.total, 'out of zone': t.outOfZone.total, 'media relayed': t.relays.total, 'relayed unencrypted': t.relays.rows.filter((r) => r.e2ee === false).reduce((n, r) => n + r.hops, 0), 'meetings re-homed': t.placements.rehomed, 'manifest changes': t.manifests.changed },
        byType: t.records.byType,
      };
    };
    // The broker may append a record between the two reads: read both again until they agree on one moment.
    let cli = await fromCli();
    for (let i = 0; i < 5 && JSON.stringify(await shown()) !== JSON.stringify(cli.totals); i++) {
      await page.click('#audit-form button[type=submit]');
      await new Promise((r) => setTimeout(r, 500));
      cli = await fromCli();
    }
    expect(await shown()).toEqual(cli.totals);
    expect(cli.totals.records).toBeGreaterThan(0);
    const types = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#audit-types tbody tr')].map((r) => ({ type: r.dataset.type ?? '', count: Number((r.children[1]?.textContent ?? '').replace(/,/g, '')) })));
    expect(types).toEqual(cli.byType);
    expect(await page.locator('#audit-records tbody tr').count()).toBeGreaterThan(0);
    await page.click('#audit-verify');
    await page.waitForSelector('#audit-integrity [data-verified="true"]', { timeout: WAIT_MS });
    expect(await page.textContent('#audit-verified')).toContain('Every log is intact');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-audit.png'), fullPage: true });
  }, 60_000);

  it("shows what taking datacenters down and tripling Europe's demand would do: China refused, Europeans refused in part, Germany moved off eu-central, the load per datacenter", async () => {
    await page.click('nav a[data-page="whatif"]');
    await page.waitForSelector('#whatif-demand input[name="europe"]', { state: 'attached', timeout: WAIT_MS });
    await page.waitForSelector('#whatif-down input[value="cn-beijing"]', { state: 'attached', timeout: WAIT_MS });
    const forecast = Number(await page.getAttribute('#whatif-demand input[name="europe"]', 'data-forecast'));
    expect(forecast).toBeGreaterThan(0);
    expect(Number(await page.inputValue('#whatif-demand input[name="europe"]'))).toBe(forecast);
    for (const dc of ['cn-beijing', 'cn-shanghai', 'eu-central']) await page.check(`#whatif-down input[value="${dc}"]`);
    await page.fill('#whatif-demand input[name="europe"]', String(forecast * 3));
    await page.click('#whatif-run');
    await page.waitForSelector('#whatif-answer:not([hidden]) table', { timeout: WAIT_MS });
    const painted = await page.evaluate(() => ({
      refused: [...new Set([...document.querySelectorAll('#whatif-map path.refused')].map((p) => p.getAttribute('data-country') ?? ''))].sort(),
      moved: [...new Set([...document.querySelectorAll('#whatif-map path.moved')].map((p) => p.getAttribute('data-country') ?? ''))],
      down: [...document.querySelectorAll('#whatif-map .dc.down')].map((g) => g.getAttribute('data-datacenter')).sort(),
    }));
    expect(painted.refused).toContain('CN');
    expect(painted.refused.filter((c) => ['DE', 'FR', 'IT', 'ES', 'PL', 'NL', 'SE', 'AT'].includes(c)).length).toBeGreaterThan(0);
    expect(painted.refused).not.toContain('US');
    expect(painted.down).toEqual(['cn-beijing', 'cn-shanghai', 'eu-central']);
    const heading = (await page.textContent('#whatif-answer h2')) ?? '';
    expect(heading).toMatch(/^With .+ down and europe at [\d,]+ \(forecast [\d,]+\): \d+ countr(y|ies) with joins refused, \d+ moved/);
    for (const dc of ['cn-beijing', 'cn-shanghai', 'eu-central']) expect(heading).toContain(dc);
    const lines = await page.locator('#whatif-answer li').allTextContents();
    expect(lines.some((l) => /^DE: eu-central → /.test(l))).toBe(true);
    expect(lines.some((l) => /^europe: \d+ % of joins refused \(NO_CAPACITY_IN_FENCE\) in \d+ countries, of [\d,]+ wanting to be connected; it would need [\d,]+ more participants of capacity inside its fences\.$/.test(l))).toBe(true);
    const row = async (dc: string): Promise<string[]> => page.locator(`#whatif-answer tr[data-datacenter="${dc}"] td`).allTextContents();
    expect((await row('eu-central'))[3]).toBe('down');
    expect((await row('eu-west'))[4]).toMatch(/^\d+ % \(full\)$/);
    const count = (text: string | undefined): number => Number((text ?? '').replaceAll(',', ''));
    const euWest = await row('eu-west');
    expect(count(euWest[3])).toBeGreaterThan(count(euWest[2])); // the load went there
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-whatif.png'), fullPage: true });
  });

  it('reviews the 2020 incident: its fence errors on their lines and apply refused; then applies the fixed manifest, and the history grows', async () => {
    await page.click('nav a[data-page="manifest"]');
    await page.waitForSelector('#manifest-history tbody tr', { timeout: WAIT_MS });
    const versions = await page.locator('#manifest-history tbody tr').count();
    const incident = join(EXAMPLES, 'incident-2020.yaml');
    await page.setInputFiles('#manifest-file', incident);
    await page.waitForSelector('#manifest-result:not([hidden])', { timeout: WAIT_MS });
    const errors = checkManifest(parseManifest(readFileSync(incident, 'utf8'), 'manifest.yaml')).filter((d) => d.severity === 'error');
    expect(errors.map((d) => d.code)).toContain('GB_FENCE_CROSSED');
    const marked = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#manifest-lines span.error')].map((s) => Number(s.dataset.line)));
    expect(marked).toEqual([...new Set(errors.map((d) => d.line))].sort((a, b) => a - b));
    expect(await page.textContent('#manifest-verdict')).toContain('cannot be applied');
    expect(await page.isDisabled('#manifest-apply')).toBe(true);
    // The 2020 change sends North American participants to China: the map paints them as gaining reach.
    const gains = await page.evaluate(() => [...new Set([...document.querySelectorAll('#manifest-map path.gains')].map((p) => p.getAttribute('data-country') ?? ''))]);
    expect(gains).toEqual(expect.arrayContaining(['US', 'CA', 'MX']));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'console-manifest.png'), fullPage: true });
    await page.setInputFiles('#manifest-file', join(EXAMPLES, 'incident-2020-fixed.yaml'));
    await page.waitForSelector('#manifest-apply:not([disabled])', { timeout: WAIT_MS });
    expect(await page.textContent('#manifest-verdict')).toContain('Clean');
    const said: string[] = [];
    page.once('dialog', (dialog) => {
      said.push(dialog.message());
      void dialog.accept();
    });
    await page.click('#manifest-apply');
    await until(async () => (await page.locator('#manifest-history tbody tr').count()) === versions + 1, WAIT_MS, 'the history to grow');
    expect(said[0]).toContain('Apply this manifest?');
    expect(await page.textContent('#manifest-status')).toMatch(/^Version \d+ is in force\.$/);
    expect(await page.textContent('#manifest-history tbody tr:first-child')).toContain('admin (console)');
  });

  it('applies a review only on the version it was made against: another admin applied one since, so nothing changes and the page asks for a new review', async () => {
    const url = new URL('/v1/manifest', cluster.broker.url);
    const admin = { authorization: `Bearer ${cluster.adminToken}` };
    const current = (await (await fetch(url, { headers: admin })).json()) as { version: number; text: string };
    await page.fill('#manifest-text', `${current.text}\n# reviewed in the console\n`);
    await page.click('#manifest-review');
    await page.waitForSelector('#manifest-apply:not([disabled])', { timeout: WAIT_MS });
    expect(await page.textContent('#manifest-verdict')).toContain(`against version ${String(current.version)}`);
    // Another admin's change lands between the review and the apply.
    const put = await fetch(url, { method: 'PUT', headers: { ...admin, 'content-type': 'application/yaml' }, body: `${current.text}\n# another admin\n` });
    expect(put.status).toBe(200);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#manifest-apply');
    await until(async () => ((await page.textContent('#manifest-status')) ?? '').includes('review again'), WAIT_MS, 'the page to ask for a new review');
    expect(await page.isDisabled('#manifest-apply')).toBe(true);
    const after = (await (await fetch(url, { headers: admin })).json()) as { version: number; text: string };
    expect([after.version, after.text]).toEqual([current.version + 1, `${current.text}\n# another admin\n`]);
  });

  it('logs out: the session is gone, and the API answers 401 again', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login-form', { state: 'visible' });
    const status = await page.evaluate(async () => (await fetch('/v1/console/overview')).status);
    expect(status).toBe(401);
    await page.close();
  });
});
