/**
 * The routing receipt in real Chromium: a participant joins a meeting on a
 * real broker and bridge (127.0.0.1, fake camera and microphone), opens the
 * encryption panel and clicks "Routing receipt"; the downloaded file is
 * checked by `geobridge receipt verify` (through the CLI entry) against the
 * broker's data directory and against the broker itself: verified, and
 * naming the datacenter it connected to. One byte of its inclusion proof
 * changed, it is refused with exit 1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { runCli as run } from '../run-cli.fixture.js';
import { parseRoutingReceiptFile } from '../../src/core/receipt-file.js';
import { launchChromium, openInvite, pageState, until } from './chromium.fixture.js';

let cluster: Cluster;
let context: BrowserContext;
let closeChromium: (() => Promise<void>) | undefined;
const downloads = mkdtempSync(join(tmpdir(), 'geobridge-receipt-download-'));

beforeAll(async () => {
  let chromium;
  [cluster, chromium] = await Promise.all([startCluster(['us-east'], ['us-east']), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
}, 45_000);

afterAll(async () => {
  // Missing when Chromium could not start.
  await closeChromium?.();
  await cluster.close();
  rmSync(downloads, { recursive: true, force: true });
}, 30_000);

describe('the routing receipt in Chromium', () => {
  it('downloads from the meeting page, verifies with --log and --broker naming the datacenter, and is refused with one byte of its proof changed', async () => {
    const meeting = await cluster.meeting('Receipts');
    const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
    const link = ((await res.json()) as { invite: string }).invite;
    const { page } = await openInvite(context, cluster.broker.url, link, 'Ada', 'US');
    await page.click('#join');
    await until(async () => (await pageState(page)).phase === 'connected', 30_000, 'the participant to connect');

    // The control is a real button with a name, in the encryption panel, with the line that says what it is.
    await page.click('#e2ee-button');
    const button = page.getByRole('button', { name: 'Routing receipt' });
    expect(await page.textContent('#routing-receipt-help')).toBe('Proof of where your call was routed, checkable with `geobridge receipt verify`.');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), button.click()]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^geobridge-receipt-${meeting}-\\d{8}-\\d{6}\\.json$`));
    const path = join(downloads, download.suggestedFilename());
    await download.saveAs(path);
    await until(async () => ((await page.textContent('#routing-receipt-status')) ?? '').startsWith('Saved geobridge-receipt-'), 5000, 'the page to say the receipt was saved');

    const parsed = parseRoutingReceiptFile(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.file.routes.flatMap((r) => r.connections.map((c) => c.datacenter))).toEqual(['us-east']);

    const offline = await run('receipt', 'verify', path, '--log', cluster.dataDir);
    expect(offline.code, offline.err + offline.out).toBe(0);
    // The log confirms the route; where it connected only the bridges' proofs do, which need the broker's keys.
    expect(offline.out).toMatch(/^US, offered us-east \(US\)[^;]*; the file says it connected to us-east at \S+Z \(--broker checks each bridge's proof\)/);
    expect(offline.out).toContain('the log in ');
    const online = await run('receipt', 'verify', path, '--broker', cluster.broker.url);
    expect(online.code, online.err + online.out).toBe(0);
    expect(online.out).toMatch(/^US → us-east \(US\), admitted /);
    expect(online.out).toContain('the bridge of us-east proved it was reached');

    // One byte of the first proof hash changed (still base64): the proof no longer leads to the head's root.
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf('"inclusionProof": [\n') + '"inclusionProof": [\n'.length;
    const start = text.indexOf('"', at) + 1;
    const altered = `${text.slice(0, start)}${text[start] === 'A' ? 'B' : 'A'}${text.slice(start + 1)}`;
    expect(altered).not.toBe(text);
    const alteredPath = join(downloads, 'altered.json');
    writeFileSync(alteredPath, altered);
    for (const source of [['--log', cluster.dataDir], ['--broker', cluster.broker.url]]) {
      const refused = await run('receipt', 'verify', alteredPath, ...source);
      expect([refused.code, refused.out]).toEqual([1, expect.stringContaining("not verified: the file's inclusion proof does not lead to the root its tree head signs") as unknown]);
    }
    await page.click('#leave');
    await page.close();
  }, 90_000);
});
