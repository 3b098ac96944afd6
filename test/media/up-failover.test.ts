/**
 * `npm start` (geobridge up) as a whole: it comes up with a bridge process
 * per datacenter, Node participants join the demo meeting through its invite
 * link, media flows; then the meeting's bridge process is SIGKILLed and both
 * participants come back on the next datacenter inside their fence, with
 * media flowing, and the audit shows the re-homing; Ctrl-C stops everything.
 * Real processes and sockets on 127.0.0.1, bounded in time.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditLog } from '../../src/broker/audit/sqlite-audit-log.js';
import { nodeSession, type SessionEvent } from '../../src/sdk/node.js';
import type { Session } from '../../src/sdk/session.js';

const ROOT = join(import.meta.dirname, '..', '..');
let dataDir: string;
let up: ChildProcessWithoutNullStreams;
let stderr = '';
let stdout = '';
const pids = new Map<string, number>();

function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const poll = (): void => {
      if (condition()) resolve(true);
      else if (Date.now() > deadline) resolve(false);
      else setTimeout(poll, 20);
    };
    poll();
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'geobridge-up-'));
  // `npm start` is `geobridge up`; its flags pass through.
  up = spawn('npm', ['start', '--silent', '--', '--data', dataDir, '--listen', '127.0.0.1:0'], { cwd: ROOT, env: { ...process.env, GEOBRIDGE_LOG_LEVEL: 'warn' }, detached: true });
  up.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  up.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const m of c.toString().matchAll(/bridge (\S+)\s+pid (\d+)/g)) pids.set(m[1] ?? '', Number(m[2]));
  });
  const ready = await until(() => stdout.includes("/join#invite="), 240_000);
  if (!ready) throw new Error(`geobridge up did not come up:\n${stderr}\n${stdout}`);
}, 250_000);

afterAll(() => {
  try {
    process.kill(-(up.pid ?? 0), 'SIGKILL');
  } catch {
    // Already gone, as it should be.
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** A synthetic video track: RTP every 20 ms (the bridge forwards bytes, it never decodes). */
function syntheticVideo(): { track: MediaStreamTrack; stop: () => void } {
  const track = new MediaStreamTrack({ kind: 'video' });
  let seq = 0;
  const timer = setInterval(() => {
    seq = (seq + 1) & 0xffff;
    track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 4321, marker: true }), Buffer.alloc(300, 7)));
  }, 20);
  return { track, stop: () => { clearInterval(timer); } };
}

interface Participant {
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
  /** RTP packets received from the other participant, over all connections. */
  received: number;
}

async function joinMeeting(url: URL, invite: string, name: string, video?: MediaStreamTrack): Promise<Participant> {
  const res = await fetch(new URL('/v1/invites/accept', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ invite, name }) });
  const { token } = (await res.json()) as { token: string };
  const p: Participant = {
    events: [],
    received: 0,
    session: undefined as unknown as Session<MediaStreamTrack>,
  };
  const session = nodeSession({
    broker: url.origin,
    joinToken: token,
    name,
    country: 'US',
    ...(video ? { tracks: { video } } : {}),
    onEvent: (e) => {
      p.events.push(e);
      if (e.type === 'track-added') e.track.onReceiveRtp.subscribe(() => p.received++);
    },
  });
  Object.assign(p, { session });
  session.join();
  return p;
}

function lastConnected(p: Participant): string | undefined {
  const c = p.events.findLast((e) => e.type === 'connected');
  return c?.type === 'connected' ? c.datacenter : undefined;
}

describe('npm start (geobridge up)', () => {
  it('comes up, a call connects, survives SIGKILL of its bridge, and stops cleanly', async () => {
    expect(pids.size).toBe(20);
    const link = /(http:\/\/127\.0\.0\.1:\d+)\/join#invite=(\S+)/.exec(stdout);
    expect(link).not.toBeNull();
    const url = new URL(link?.[1] ?? '');
    const invite = link?.[2] ?? '';
    const page = await fetch(new URL('/healthz', url));
    expect(page.status).toBe(200);

    const video = syntheticVideo();
    const ada = await joinMeeting(url, invite, 'Ada', video.track);
    const bo = await joinMeeting(url, invite, 'Bo');
    expect(await until(() => bo.received > 10, 20_000)).toBe(true);
    const first = lastConnected(ada);
    expect(first).toBe('us-east');
    expect(lastConnected(bo)).toBe(first);

    // Kill the meeting's bridge process outright.
    const killedAt = Date.now();
    process.kill(pids.get(first ?? '') ?? 0, 'SIGKILL');
    const before = bo.received;
    const back = await until(() => {
      const a = lastConnected(ada);
      return a !== first && a === lastConnected(bo) && ada.session.status === 'connected' && bo.session.status === 'connected' && bo.received > before + 10;
    }, 20_000);
    const recoveryMs = Date.now() - killedAt;
    expect(back, `not back after 20 s; Ada: ${ada.events.map((e) => e.type).join(',')}`).toBe(true);
    const second = lastConnected(ada) ?? '';
    // Still inside the US fence of the participants' route: the next North American primary.
    expect(['us-west', 'ca-central']).toContain(second);
    console.log(`failover: media flowing again on ${second} ${recoveryMs} ms after SIGKILL of ${first ?? ''}`);

    ada.session.leave();
    bo.session.leave();
    video.stop();

    // Ctrl-C in a terminal signals the whole foreground process group.
    process.kill(-(up.pid ?? 0), 'SIGINT');
    // npm itself ends by the signal; geobridge up must stop its bridges and leave nothing behind.
    const groupGone = (): boolean => {
      try {
        process.kill(-(up.pid ?? 0), 0);
        return false;
      } catch {
        return true;
      }
    };
    expect(await until(groupGone, 20_000)).toBe(true);
    expect(stderr).toContain('stopping: bridges drain, then the broker closes');
    for (const [dc, pid] of pids) {
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      expect(alive, `bridge ${dc} (pid ${pid}) outlived geobridge up`).toBe(false);
    }

    // The audit log shows the re-homing.
    const audit = SqliteAuditLog.open(join(dataDir, 'audit.sqlite'));
    const records = await audit.read();
    await audit.close();
    const rehomed = records.filter((r) => r.type === 'placement.rehomed');
    expect(rehomed.some((r) => (r.data as { from?: string; datacenter?: string }).from === first && (r.data as { datacenter?: string }).datacenter === second)).toBe(true);
  }, 120_000);
});
