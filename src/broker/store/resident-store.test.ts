// The resident store is a Store: the whole contract holds with participant rows spread over record stores by
// country (a reconnect from another country moves the row, and the row it replaced still comes back), on memory
// and on SQLite files; and each row is kept in its region only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryParticipantRows } from './memory-participant-rows.js';
import { MemoryStore } from './memory-store.js';
import type { ParticipantRows } from './participant-rows.js';
import { ResidentStore } from './resident-store.js';
import { SqliteParticipantRows } from './sqlite-participant-rows.js';
import { SqliteStore } from './sqlite-store.js';
import { describeStoreContract } from './store-contract.fixture.js';
import type { Participant } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'geobridge-resident-'));
let files = 0;
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** DE rows in eu, US rows in us, the rest in the broker's own store. */
const byCountry = (participant: Participant): Promise<string | undefined> => Promise.resolve(({ DE: 'eu', US: 'us' } as Record<string, string | undefined>)[participant.country]);

describeStoreContract('resident, rows in memory regions', () => new ResidentStore(new MemoryStore(), new Map<string, ParticipantRows>([['eu', new MemoryParticipantRows()], ['us', new MemoryParticipantRows()]]), byCountry));
describeStoreContract('resident, rows in SQLite regions', () => {
  const file = (): string => join(dir, `region-${String(++files)}.sqlite`);
  return new ResidentStore(SqliteStore.open(file()), new Map<string, ParticipantRows>([['eu', SqliteParticipantRows.open(file())], ['us', SqliteParticipantRows.open(file())]]), byCountry);
});

describe('ResidentStore', () => {
  it('keeps each row in its region only, and moves it when its region changes', async () => {
    const own = new MemoryStore();
    const eu = new MemoryParticipantRows();
    const us = new MemoryParticipantRows();
    const store = new ResidentStore(own, new Map<string, ParticipantRows>([['eu', eu], ['us', us]]), byCountry);
    await store.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'US', apiKeyHash: 'h', createdAt: '2026-01-01T00:00:00Z' });
    await store.createMeeting({ id: 'm1', accountId: 'a1', title: 'Standup', createdAt: '2026-01-01T00:00:00Z' });
    const row = (id: string, country: string, session = `s-${id}`): Participant => ({ id, meetingId: 'm1', country, joinedAt: '2026-01-01T00:00:01Z', datacenter: 'dc', session });
    await store.addParticipant(row('ada', 'DE'));
    await store.addParticipant(row('bo', 'US'));
    await store.addParticipant(row('cy', 'BR'));
    expect((await eu.listParticipants('m1')).map((p) => p.id)).toEqual(['ada']);
    expect((await us.listParticipants('m1')).map((p) => p.id)).toEqual(['bo']);
    expect((await own.listParticipants('m1')).map((p) => p.id)).toEqual(['cy']);
    expect((await store.listParticipants('m1')).map((p) => p.id)).toEqual(['ada', 'bo', 'cy']);
    // Counted from the three stores, as one meeting at one datacenter.
    expect(await store.countParticipants()).toEqual([{ datacenter: 'dc', meetingId: 'm1', participants: 3 }]);
    // Ada reconnects as a US participant: her row moves, and the old one is what was replaced.
    expect(await store.addParticipant(row('ada', 'US', 's-2'))).toEqual(row('ada', 'DE'));
    expect(await eu.listParticipants('m1')).toEqual([]);
    expect((await us.listParticipants('m1')).map((p) => `${p.id}:${p.session}`)).toEqual(['ada:s-2', 'bo:s-bo']);
    expect((await store.removeParticipantsAt('dc')).map((p) => p.id)).toEqual(['ada', 'bo', 'cy']);
    expect(await store.listParticipants('m1')).toEqual([]);
    await store.close();
  });
});
