// What a cascade hop's audit records say: whose media, from which jurisdiction into which, and whether end-to-end
// encrypted, said again when that changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from './audit/audit-log.js';
import { closeRelay, openRelay, type Hop } from './relays.js';
import { startTestBroker, type TestBroker } from './test-broker.fixture.js';

let broker: TestBroker;

beforeAll(async () => {
  // No bridge is connected: the commands go nowhere, the records are written all the same.
  broker = await startTestBroker({ config: { cascade: true, bridgeUrls: new Map([['eu-central', 'ws://eu-central.test']]) } });
});
afterAll(async () => {
  await broker.close();
});

const hop: Hop = {
  meeting: 'm1',
  from: 'eu-central',
  to: 'us-east',
  streams: ['anna', 'ben', 'kim'],
  // kim's country is not known: her record stays in the broker's own log, without her id.
  countries: { anna: 'DE', ben: 'DE' },
  e2ee: true,
  clear: ['ben'],
};

async function relayRecords(type: AuditRecord['type']): Promise<AuditRecord['data'][]> {
  return (await broker.ctx.audit.read()).filter((r) => r.type === type).map((r) => r.data);
}

describe('relay audit records', () => {
  it('name the carried participant’s country and the jurisdictions of both ends, under the manifest in force', async () => {
    await openRelay(broker.ctx, hop);
    const base = { meeting: 'm1', from: 'eu-central', to: 'us-east', fromJurisdiction: 'DE', jurisdiction: 'US' };
    expect(await relayRecords('relay.opened')).toEqual([
      { ...base, participant: 'anna', country: 'DE', e2ee: true },
      { ...base, participant: 'ben', country: 'DE', e2ee: false },
      { ...base, participant: null, country: null, e2ee: true },
    ]);
    await closeRelay(broker.ctx, { ...hop, streams: ['anna'] }, 'PLAN_CHANGED', { keepOpen: true });
    expect(await relayRecords('relay.closed')).toEqual([{ ...base, participant: 'anna', country: 'DE', e2ee: true, reason: 'PLAN_CHANGED' }]);
  });

  it('say again, on a hop re-ticketed, whose media it now carries end-to-end encrypted or no longer does; nothing of the others', async () => {
    const before = (await relayRecords('relay.opened')).length;
    // Ben's SDK joined the meeting's group: the hop's next ticket carries his media encrypted.
    await openRelay(broker.ctx, { ...hop, clear: [] }, hop);
    expect((await relayRecords('relay.opened')).slice(before)).toEqual([{ meeting: 'm1', from: 'eu-central', to: 'us-east', fromJurisdiction: 'DE', jurisdiction: 'US', participant: 'ben', country: 'DE', e2ee: true }]);
    // The same hop, ticket renewed: nothing new.
    await openRelay(broker.ctx, hop, hop);
    expect(await relayRecords('relay.opened')).toHaveLength(before + 1);
  });

  it('say null for a datacenter the manifest in force does not have', async () => {
    await closeRelay(broker.ctx, { ...hop, to: 'gone-1', streams: ['anna'] }, 'BRIDGE_LOST', { keepOpen: true });
    expect((await relayRecords('relay.closed')).at(-1)).toMatchObject({ to: 'gone-1', jurisdiction: null, fromJurisdiction: 'DE', country: 'DE' });
  });
});
