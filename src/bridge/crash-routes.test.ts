/**
 * A bridge crash without a broker round trip, as the routes promise
 * (docs/client.md, "A bridge that vanished"): the meeting's first
 * participant and one who joined the placed meeting, both holding tickets
 * their bridge renewed (the first ones expired), go on through their
 * routes' plans to the next datacenter, and the broker makes no new route
 * decision. Bridges are processes (processes.fixture.ts), SIGKILLed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLOCK_TOLERANCE_SECONDS } from '../protocol/jwt.js';
import { nodeSession } from '../sdk/node.js';
import type { MediaStreamTrack } from 'werift';
import type { Session } from '../sdk/session.js';
import { startProcessCluster, type ProcessCluster } from './processes.fixture.js';

/** Short tickets: renewed at half their lifetime, so the first ones expire before the crash. */
const TICKET_SECONDS = 8;
/** Sized for a loaded 2-core machine running other test files beside this one. */
const LIMIT_MS = 30_000;

let cluster: ProcessCluster;
beforeAll(async () => {
  cluster = await startProcessCluster(['us-east', 'us-west', 'ca-central'], { ticketSeconds: TICKET_SECONDS });
}, 120_000);
afterAll(async () => {
  await cluster.close();
});

/** A metric's total over its labels, from the broker's /metrics. */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${cluster.broker.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + LIMIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${LIMIT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('goes on to the next datacenter with renewed tickets, the placed joiner too, without a new route decision', async () => {
  const meeting = await cluster.meeting('Crash without the broker');
  const on = new Map<string, string>();
  const sessions: Session<MediaStreamTrack>[] = [];
  try {
    for (const name of ['Ada', 'Bo']) {
      const session = nodeSession({
        broker: cluster.broker.url,
        joinToken: await cluster.joinToken(meeting, name),
        country: 'US',
        onEvent: (e) => {
          if (e.type === 'connected') on.set(name, e.datacenter);
          if (e.type === 'reconnecting') on.delete(name);
        },
      });
      sessions.push(session);
      session.join();
      await until(() => on.has(name), `${name} connected`);
    }
    const from = on.get('Ada') ?? '';
    expect(on.get('Bo')).toBe(from);
    // Past the first tickets' expiry and the clock tolerance, so that a bridge would refuse them: the next
    // datacenter admits only a participant who joins with its renewed ticket.
    await new Promise((r) => setTimeout(r, (TICKET_SECONDS + CLOCK_TOLERANCE_SECONDS + 1) * 1000));
    await until(async () => (await metric('geobridge_ticket_renewals_total', 'outcome="renewed"')) >= 2, 'both tickets renewed');
    const decided = await metric('geobridge_decisions_total');
    cluster.kill(from);
    await until(() => [...on.values()].filter((dc) => dc !== from).length === 2, 'both participants on another datacenter');
    expect(on.get('Bo')).toBe(on.get('Ada'));
    expect(await metric('geobridge_decisions_total')).toBe(decided);
  } finally {
    for (const s of sessions) s.leave();
  }
}, 120_000);
