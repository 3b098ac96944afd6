// The cascade plan on a small world: who connects where, which relays carry whose media, who cannot see whom.
import { describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../errors.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { mayCarry, planMeeting, type MeetingParticipant } from './plan.js';

/** Frankfurt (two bridges), São Paulo, Tokyo and Beijing; EEA media stays in the EEA or Japan; China is an enclave. */
function world(transit: { eea?: string; china?: string } = {}): Manifest {
  const line = (t: string | undefined): string => (t === undefined ? '' : `, transit: ${t}`);
  const parsed = parseManifest(`version: 1
datacenters:
  eu-frankfurt: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 }, capacity: 100 }
  eu-frankfurt-2: { jurisdiction: DE, location: { lat: 50.12, lon: 8.70 }, capacity: 100 }
  sa-saopaulo: { jurisdiction: BR, location: { lat: -23.55, lon: -46.63 }, capacity: 100 }
  ap-tokyo: { jurisdiction: JP, location: { lat: 35.68, lon: 139.69 }, capacity: 100 }
  cn-beijing: { jurisdiction: CN, location: { lat: 39.9, lon: 116.4 }, capacity: 100 }
zones:
  eu: { countries: [DE, FR], primaries: [eu-frankfurt, eu-frankfurt-2] }
  sa: { countries: [BR], primaries: [sa-saopaulo] }
  ap: { countries: [JP], primaries: [ap-tokyo] }
  cn: { countries: [CN], primaries: [cn-beijing] }
fences:
  - { name: eea, clients: [DE, FR], allow: [DE, FR, JP]${line(transit.eea)} }
  - { name: china-stays-in-china, clients: [CN], allow: [CN]${line(transit.china)} }
  - { name: nobody-else-into-china, clients: ['*', '!CN'], deny: [CN] }
`);
  expect(parsed.diagnostics).toEqual([]);
  return parsed.manifest as Manifest;
}

const anna: MeetingParticipant = { name: 'anna', country: 'DE', location: { lat: 50.11, lon: 8.68 } };
const bruno: MeetingParticipant = { name: 'bruno', country: 'BR' };
const kenji: MeetingParticipant = { name: 'kenji', country: 'JP' };
const li: MeetingParticipant = { name: 'li', country: 'CN' };

describe('planMeeting', () => {
  it('puts each participant on its nearest bridge and relays each stream straight to the bridges that may carry it', () => {
    const plan = planMeeting(world(), [anna, bruno, kenji]);
    expect(plan.participants).toEqual([
      { name: 'anna', country: 'DE', datacenter: 'eu-frankfurt' },
      { name: 'bruno', country: 'BR', datacenter: 'sa-saopaulo' },
      { name: 'kenji', country: 'JP', datacenter: 'ap-tokyo' },
    ]);
    expect(plan.relays).toEqual([
      { from: 'ap-tokyo', to: 'eu-frankfurt', streams: ['kenji'] },
      { from: 'ap-tokyo', to: 'sa-saopaulo', streams: ['kenji'] },
      { from: 'eu-frankfurt', to: 'ap-tokyo', streams: ['anna'] },
      { from: 'sa-saopaulo', to: 'ap-tokyo', streams: ['bruno'] },
      { from: 'sa-saopaulo', to: 'eu-frankfurt', streams: ['bruno'] },
    ]);
    // Anna's media may not reach Brazil (transit: never by default); Bruno's may reach Germany.
    expect(plan.unreachable).toEqual([{ from: 'anna', to: 'bruno', reason: 'FENCE' }]);
    expect(plan.isolated).toEqual([]);
  });

  it('lets E2EE media transit a bridge outside a fence that says `transit: e2ee`, and only in an E2EE meeting', () => {
    const e2ee = planMeeting(world({ eea: 'e2ee' }), [anna, bruno, kenji]);
    expect(e2ee.unreachable).toEqual([]);
    expect(e2ee.relays).toContainEqual({ from: 'eu-frankfurt', to: 'sa-saopaulo', streams: ['anna'] });
    // The participant still connects only inside its fence: transit is for relays.
    expect(e2ee.participants[0]?.datacenter).toBe('eu-frankfurt');

    const clear = planMeeting(world({ eea: 'e2ee' }), [anna, bruno, kenji], {}, { e2ee: false });
    expect(clear.unreachable).toEqual([{ from: 'anna', to: 'bruno', reason: 'FENCE' }]);
    expect(clear.relays).not.toContainEqual(expect.objectContaining({ from: 'eu-frankfurt', to: 'sa-saopaulo' }));
    // An explicit `never` is the default.
    expect(planMeeting(world({ eea: 'never' }), [anna, bruno, kenji])).toEqual(planMeeting(world(), [anna, bruno, kenji]));
  });

  it('cuts a participant in the China enclave off both ways, and reports it as reaching nobody', () => {
    const plan = planMeeting(world(), [anna, li, kenji]);
    expect(plan.participants[1]).toEqual({ name: 'li', country: 'CN', datacenter: 'cn-beijing' });
    expect(plan.unreachable).toEqual([
      { from: 'anna', to: 'li', reason: 'FENCE' },
      { from: 'li', to: 'anna', reason: 'FENCE' },
      { from: 'li', to: 'kenji', reason: 'FENCE' },
      { from: 'kenji', to: 'li', reason: 'FENCE' },
    ]);
    expect(plan.relays.flatMap((r) => [r.from, r.to])).not.toContain('cn-beijing');
    expect(plan.isolated).toEqual(['li']);
  });

  it('counts one direction as reaching someone: a CN stream allowed out as ciphertext, nothing allowed in', () => {
    const plan = planMeeting(world({ china: 'e2ee' }), [li, kenji]);
    expect(plan.relays).toEqual([{ from: 'cn-beijing', to: 'ap-tokyo', streams: ['li'] }]);
    expect(plan.unreachable).toEqual([{ from: 'kenji', to: 'li', reason: 'FENCE' }]);
    expect(plan.isolated).toEqual([]);
  });

  it('moves a participant off a down datacenter, and refuses one with nothing left inside its fence', () => {
    const plan = planMeeting(world(), [anna, li, kenji], { down: new Set(['eu-frankfurt', 'cn-beijing']) });
    expect(plan.participants.map((p) => p.datacenter)).toEqual(['eu-frankfurt-2', null, 'ap-tokyo']);
    expect(plan.relays).toEqual([
      { from: 'ap-tokyo', to: 'eu-frankfurt-2', streams: ['kenji'] },
      { from: 'eu-frankfurt-2', to: 'ap-tokyo', streams: ['anna'] },
    ]);
    expect(plan.unreachable).toEqual([
      { from: 'anna', to: 'li', reason: 'RECEIVER_UNROUTED' },
      { from: 'li', to: 'anna', reason: 'SENDER_UNROUTED' },
      { from: 'li', to: 'kenji', reason: 'SENDER_UNROUTED' },
      { from: 'kenji', to: 'li', reason: 'RECEIVER_UNROUTED' },
    ]);
    expect(plan.isolated).toEqual(['li']);
    const refusal = plan.routes[1];
    expect(refusal && 'error' in refusal ? refusal.error.code : undefined).toBe('NO_CAPACITY_IN_FENCE');
  });

  it('needs no relay between participants on one bridge, and lists a relay’s streams sorted by name', () => {
    const zed: MeetingParticipant = { name: 'zed', country: 'BR' };
    const amy: MeetingParticipant = { name: 'amy', country: 'BR' };
    const plan = planMeeting(world(), [zed, amy, kenji]);
    expect(plan.relays).toEqual([
      { from: 'ap-tokyo', to: 'sa-saopaulo', streams: ['kenji'] },
      { from: 'sa-saopaulo', to: 'ap-tokyo', streams: ['amy', 'zed'] },
    ]);
    expect(planMeeting(world(), [zed, amy]).relays).toEqual([]);
  });

  it('treats a lone participant as reaching nobody only when it has no bridge', () => {
    expect(planMeeting(world(), [anna]).isolated).toEqual([]);
    expect(planMeeting(world(), [li], { down: new Set(['cn-beijing']) }).isolated).toEqual(['li']);
    expect(planMeeting(world(), []).participants).toEqual([]);
  });

  it('is deterministic: the same meeting gives the same plan', () => {
    const meeting = [kenji, anna, bruno, li];
    expect(JSON.stringify(planMeeting(world({ eea: 'e2ee' }), meeting))).toBe(JSON.stringify(planMeeting(world({ eea: 'e2ee' }), meeting)));
  });

  it('refuses two participants with the same name', () => {
    let code: string | undefined;
    try {
      planMeeting(world(), [anna, { ...bruno, name: 'anna' }]);
    } catch (error) {
      code = isGeobridgeError(error) ? error.code : undefined;
    }
    expect(code).toBe('DUPLICATE_PARTICIPANT');
  });
});

describe('mayCarry (the rule a sending bridge checks on every hop)', () => {
  it('says of every pair exactly what the plan did', () => {
    for (const transit of [{}, { eea: 'e2ee' }, { china: 'e2ee' }]) {
      for (const e2ee of [true, false]) {
        const manifest = world(transit);
        const people = [anna, bruno, kenji, li];
        const plan = planMeeting(manifest, people, {}, { e2ee });
        const jurisdiction = { 'eu-frankfurt': 'DE', 'sa-saopaulo': 'BR', 'ap-tokyo': 'JP', 'cn-beijing': 'CN' } as Record<string, string>;
        for (const sender of plan.participants) {
          for (const receiver of plan.participants) {
            if (sender === receiver || receiver.datacenter === null || sender.datacenter === null || sender.datacenter === receiver.datacenter) continue;
            const carried = mayCarry(manifest, sender.country, jurisdiction[receiver.datacenter] ?? '', { e2ee });
            const fenced = plan.unreachable.some((u) => u.from === sender.name && u.to === receiver.name && u.reason === 'FENCE');
            expect(carried, `${sender.name} → ${receiver.name} ${JSON.stringify(transit)} e2ee=${e2ee}`).toBe(!fenced);
          }
        }
      }
    }
  });

  it('never lets a stream leave China, nor E2EE media through a fence that does not say so', () => {
    expect(mayCarry(world(), 'CN', 'JP')).toBe(false);
    expect(mayCarry(world({ eea: 'e2ee' }), 'DE', 'BR', { e2ee: false })).toBe(false);
    expect(mayCarry(world({ eea: 'e2ee' }), 'DE', 'BR')).toBe(true);
    expect(mayCarry(world(), 'DE', 'JP')).toBe(true);
  });
});

