/**
 * The Store contract: one vitest suite every adapter must pass. A new adapter
 * (PostgreSQL, Redis) adds one line to its test file:
 * `describeStoreContract('postgres', () => PostgresStore.open(url))`.
 * `open` must return a fresh, empty store on every call; the suite closes it.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareStrings } from '../../core/order.js';
import type { Account, Meeting, Participant, Placement, SigningKey, Store } from './store.js';

/** A fixed ISO time `n` seconds after the epoch of the suite, so ordering tests are deterministic. */
function at(n: number): string {
  return new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
}

function account(id: string, overrides: Partial<Account> = {}): Account {
  return { id, name: `Account ${id}`, homeCountry: 'DE', apiKeyHash: `hash-${id}`, createdAt: at(0), ...overrides };
}

function meeting(id: string, accountId: string, overrides: Partial<Meeting> = {}): Meeting {
  return { id, accountId, title: `Meeting ${id}`, createdAt: at(0), ...overrides };
}

function participant(id: string, meetingId: string, overrides: Partial<Participant> = {}): Participant {
  return { id, meetingId, country: 'DE', joinedAt: at(0), datacenter: 'eu-central', session: `dec-${id}`, ...overrides };
}

function signingKey(kid: string, createdAt: string): SigningKey {
  return { kid, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `x-${kid}` }, createdAt };
}

/** Asserts that `promise` rejects with a GeobridgeError carrying `code`. */
async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'GeobridgeError', code });
}

/** Registers the full Store contract suite for one adapter. */
export function describeStoreContract(name: string, open: () => Promise<Store> | Store): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    /** Creates account `a1` and meeting `m1`, the parents most tests need. */
    async function seedMeeting(meetingId = 'm1'): Promise<void> {
      if (!(await store.getAccount('a1'))) await store.createAccount(account('a1'));
      await store.createMeeting(meeting(meetingId, 'a1'));
    }

    describe('accounts', () => {
      it('creates and reads back an account with every field, and one with none of the optional ones', async () => {
        const full = account('a1', { plan: 'government', allowedJurisdictions: ['DE', 'FR'] });
        const bare = account('a2');
        await store.createAccount(full);
        await store.createAccount(bare);
        // toStrictEqual: absent optional fields stay absent (no `plan: undefined`).
        expect(await store.getAccount('a1')).toStrictEqual(full);
        expect(await store.getAccount('a2')).toStrictEqual(bare);
      });

      it('keeps an empty jurisdiction list distinct from no list (nothing allowed ≠ no narrowing)', async () => {
        await store.createAccount(account('a1', { allowedJurisdictions: [] }));
        expect((await store.getAccount('a1'))?.allowedJurisdictions).toEqual([]);
      });

      it('returns undefined for an unknown id', async () => {
        expect(await store.getAccount('nope')).toBeUndefined();
      });

      it('finds an account by the hash of its API key', async () => {
        await store.createAccount(account('a1', { apiKeyHash: 'aa'.repeat(32) }));
        await store.createAccount(account('a2', { apiKeyHash: 'bb'.repeat(32) }));
        expect((await store.findAccountByApiKeyHash('bb'.repeat(32)))?.id).toBe('a2');
        expect(await store.findAccountByApiKeyHash('cc'.repeat(32))).toBeUndefined();
      });

      it('lists accounts oldest first, ties broken by id', async () => {
        await store.createAccount(account('b', { createdAt: at(1) }));
        await store.createAccount(account('c', { createdAt: at(0) }));
        await store.createAccount(account('a', { createdAt: at(1) }));
        expect((await store.listAccounts()).map((a) => a.id)).toEqual(['c', 'a', 'b']);
      });

      it('replaces the policy (absent fields are cleared), counts its revisions and returns the updated account', async () => {
        await store.createAccount(account('a1', { plan: 'standard', allowedJurisdictions: ['DE'] }));
        expect((await store.getAccount('a1'))?.policyRevision, 'a new account').toBeUndefined();
        const narrowed = await store.updateAccountPolicy('a1', { plan: 'government', allowedJurisdictions: ['DE', 'AT'] });
        expect(narrowed).toStrictEqual(account('a1', { plan: 'government', allowedJurisdictions: ['DE', 'AT'], policyRevision: 1 }));
        expect(await store.getAccount('a1')).toStrictEqual(narrowed);

        const cleared = await store.updateAccountPolicy('a1', {});
        expect(cleared).toStrictEqual(account('a1', { policyRevision: 2 }));
        expect(await store.getAccount('a1')).toStrictEqual(cleared);
        await store.createMeeting(meeting('m1', 'a1'));
        expect((await store.getMeetingContext('m1'))?.account, 'the account a route reads').toStrictEqual(cleared);
      });

      it('gives concurrent policy changes distinct revisions, the last written the highest', async () => {
        await store.createAccount(account('a1'));
        const changes = await Promise.all(['DE', 'FR', 'IT', 'ES'].map((code) => store.updateAccountPolicy('a1', { allowedJurisdictions: [code] })));
        expect(changes.map((a) => a.policyRevision).sort()).toEqual([1, 2, 3, 4]);
        const last = changes.find((a) => a.policyRevision === 4);
        expect(await store.getAccount('a1')).toStrictEqual(last);
      });

      it('changes a policy after a named revision only while it is at it, and of simultaneous such changes exactly one wins', async () => {
        await store.createAccount(account('a1', { allowedJurisdictions: ['DE'] }));
        await expectCode(store.updateAccountPolicy('a1', { allowedJurisdictions: ['FR'] }, 1), 'STORE_CONFLICT');
        const race = await Promise.allSettled(['FR', 'IT', 'ES', 'AT'].map((code) => store.updateAccountPolicy('a1', { allowedJurisdictions: [code] }, 0)));
        const won = race.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        expect(won.map((a) => a.policyRevision)).toEqual([1]);
        for (const r of race) if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('STORE_CONFLICT');
        expect(await store.getAccount('a1')).toStrictEqual(won[0]);
        expect((await store.updateAccountPolicy('a1', {}, 1)).policyRevision).toBe(2);
      });

      it('rejects a policy update for an unknown account with STORE_NOT_FOUND', async () => {
        await expectCode(store.updateAccountPolicy('nope', { plan: 'government' }), 'STORE_NOT_FOUND');
        await expectCode(store.updateAccountPolicy('nope', { plan: 'government' }, 0), 'STORE_NOT_FOUND');
      });

      it('rejects a duplicate id with STORE_CONFLICT and keeps the original', async () => {
        await store.createAccount(account('a1'));
        await expectCode(store.createAccount(account('a1', { name: 'Impostor', apiKeyHash: 'other' })), 'STORE_CONFLICT');
        expect(await store.getAccount('a1')).toStrictEqual(account('a1'));
        expect(await store.findAccountByApiKeyHash('other')).toBeUndefined();
      });

      it('rejects a second account with the same API key hash with STORE_CONFLICT', async () => {
        await store.createAccount(account('a1', { apiKeyHash: 'same' }));
        await expectCode(store.createAccount(account('a2', { apiKeyHash: 'same' })), 'STORE_CONFLICT');
        expect(await store.getAccount('a2')).toBeUndefined();
      });

      it('round-trips any account (property)', async () => {
        let n = 0;
        const arbAccount = fc.record(
          {
            name: fc.string(),
            homeCountry: fc.stringMatching(/^[A-Z]{2}$/),
            plan: fc.string({ minLength: 1 }),
            allowedJurisdictions: fc.array(fc.stringMatching(/^[A-Z]{2}$/), { maxLength: 5 }),
            createdAt: fc.integer({ min: 0, max: 1e6 }).map(at),
          },
          { requiredKeys: ['name', 'homeCountry', 'createdAt'] },
        );
        await fc.assert(
          fc.asyncProperty(arbAccount, async (fields) => {
            const a: Account = { id: `p${String(n)}`, apiKeyHash: `h${String(n)}`, ...fields };
            n++;
            await store.createAccount(a);
            expect(await store.getAccount(a.id)).toStrictEqual(a);
          }),
          { numRuns: 50 },
        );
      });
    });

    describe('meetings', () => {
      it('creates and reads back a meeting', async () => {
        await store.createAccount(account('a1'));
        await store.createMeeting(meeting('m1', 'a1', { title: 'Board', createdAt: at(5) }));
        expect(await store.getMeeting('m1')).toStrictEqual(meeting('m1', 'a1', { title: 'Board', createdAt: at(5) }));
        expect(await store.getMeeting('nope')).toBeUndefined();
      });

      it('rejects a meeting for an unknown account with STORE_NOT_FOUND', async () => {
        await expectCode(store.createMeeting(meeting('m1', 'nope')), 'STORE_NOT_FOUND');
        expect(await store.getMeeting('m1')).toBeUndefined();
      });

      it('rejects a duplicate id with STORE_CONFLICT', async () => {
        await seedMeeting('m1');
        await expectCode(store.createMeeting(meeting('m1', 'a1', { title: 'Other' })), 'STORE_CONFLICT');
        expect((await store.getMeeting('m1'))?.title).toBe('Meeting m1');
      });

      it('ends a meeting; a second end is a no-op that keeps the first time and reason', async () => {
        await seedMeeting('m1');
        expect(await store.endMeeting('m1', at(10), 'host')).toBe(true);
        expect(await store.endMeeting('m1', at(20), 'policy')).toBe(false);
        expect(await store.getMeeting('m1')).toStrictEqual(meeting('m1', 'a1', { endedAt: at(10), endedReason: 'host' }));
      });

      it('rejects ending an unknown meeting with STORE_NOT_FOUND', async () => {
        await expectCode(store.endMeeting('nope', at(1), 'host'), 'STORE_NOT_FOUND');
      });

      it('lists live meetings oldest first, ties broken by id, without ended ones', async () => {
        await store.createAccount(account('a1'));
        await store.createMeeting(meeting('m-late', 'a1', { createdAt: at(3) }));
        await store.createMeeting(meeting('m-b', 'a1', { createdAt: at(1) }));
        await store.createMeeting(meeting('m-a', 'a1', { createdAt: at(1) }));
        await store.createMeeting(meeting('m-first', 'a1', { createdAt: at(0) }));
        await store.createMeeting(meeting('m-ended', 'a1', { createdAt: at(2) }));
        await store.endMeeting('m-ended', at(4), 'host');
        expect((await store.listLiveMeetings()).map((m) => m.id)).toEqual(['m-first', 'm-a', 'm-b', 'm-late']);
      });
    });

    describe('a meeting with its account and placement (getMeetingContext)', () => {
      it('reads what the single reads give, before and after a claim; nothing for an unknown meeting', async () => {
        const owner = account('a1', { plan: 'gov', allowedJurisdictions: ['DE', 'FR'] });
        const board = meeting('m1', 'a1', { title: 'Board', createdAt: at(5), allowedJurisdictions: ['DE'] });
        await store.createAccount(owner);
        await store.createMeeting(board);
        expect(await store.getMeetingContext('m1')).toStrictEqual({ meeting: board, account: owner, placement: undefined });
        const { placement } = (await store.claimPlacement('m1', 'fra1', 0, at(6))) as { placement: Placement };
        await store.endMeeting('m1', at(7), 'host');
        expect(await store.getMeetingContext('m1')).toStrictEqual({ meeting: await store.getMeeting('m1'), account: await store.getAccount('a1'), placement });
        expect((await store.getMeetingContext('m1'))?.meeting.endedReason).toBe('host');
        expect(await store.getMeetingContext('nope')).toBeUndefined();
      });
    });

    describe('placements', () => {
      it('has no placement before the first claim', async () => {
        await seedMeeting('m1');
        expect(await store.getPlacement('m1')).toBeUndefined();
      });

      it('lets the first claim with expected epoch 0 win, at epoch 1', async () => {
        await seedMeeting('m1');
        const placement = { meetingId: 'm1', datacenter: 'fra1', epoch: 1, since: at(1) };
        expect(await store.claimPlacement('m1', 'fra1', 0, at(1))).toStrictEqual({ won: true, placement });
        expect(await store.getPlacement('m1')).toStrictEqual(placement);
      });

      it('makes a stale claim lose and report the placement in force', async () => {
        await seedMeeting('m1');
        await store.claimPlacement('m1', 'fra1', 0, at(1));
        const placement = { meetingId: 'm1', datacenter: 'fra1', epoch: 1, since: at(1) };
        expect(await store.claimPlacement('m1', 'ams1', 0, at(2))).toStrictEqual({ won: false, placement });
        expect(await store.claimPlacement('m1', 'ams1', 7, at(2))).toStrictEqual({ won: false, placement });
        expect(await store.getPlacement('m1')).toStrictEqual(placement);
      });

      it('re-homes with the current epoch, bumping it', async () => {
        await seedMeeting('m1');
        await store.claimPlacement('m1', 'fra1', 0, at(1));
        const rehomed = { meetingId: 'm1', datacenter: 'ams1', epoch: 2, since: at(2) };
        expect(await store.claimPlacement('m1', 'ams1', 1, at(2))).toStrictEqual({ won: true, placement: rehomed });
        // Re-claiming the same datacenter is still a new epoch.
        expect((await store.claimPlacement('m1', 'ams1', 2, at(3))).placement.epoch).toBe(3);
      });

      it('rejects a claim that expects an epoch on an unplaced meeting with STORE_CONFLICT', async () => {
        await seedMeeting('m1');
        await expectCode(store.claimPlacement('m1', 'fra1', 1, at(1)), 'STORE_CONFLICT');
        expect(await store.getPlacement('m1')).toBeUndefined();
      });

      it('rejects a claim for an unknown meeting with STORE_NOT_FOUND', async () => {
        await expectCode(store.claimPlacement('nope', 'fra1', 0, at(1)), 'STORE_NOT_FOUND');
      });

      it('lets exactly one of 20 simultaneous first claims win; all report the same placement', async () => {
        await seedMeeting('m1');
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claimPlacement('m1', `dc${String(i)}`, 0, at(i))));
        const winners = results.filter((r) => r.won);
        expect(winners).toHaveLength(1);
        const inForce = await store.getPlacement('m1');
        expect(inForce?.epoch).toBe(1);
        for (const r of results) expect(r.placement).toStrictEqual(inForce);
        expect(winners[0]?.placement).toStrictEqual(inForce);
      });

      it('lets exactly one of 20 simultaneous re-homes win', async () => {
        await seedMeeting('m1');
        await store.claimPlacement('m1', 'fra1', 0, at(0));
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claimPlacement('m1', `dc${String(i)}`, 1, at(i + 1))));
        expect(results.filter((r) => r.won)).toHaveLength(1);
        const inForce = await store.getPlacement('m1');
        expect(inForce?.epoch).toBe(2);
        for (const r of results) expect(r.placement).toStrictEqual(inForce);
      });

      it('behaves like a compare-and-set register for any sequence of claims (property)', async () => {
        await store.createAccount(account('a1'));
        let run = 0;
        const step = fc.record({ dc: fc.constantFrom('fra1', 'ams1', 'par1'), offset: fc.integer({ min: -1, max: 1 }) });
        await fc.assert(
          fc.asyncProperty(fc.array(step, { maxLength: 12 }), async (steps) => {
            const meetingId = `prop-${String(run++)}`;
            await store.createMeeting(meeting(meetingId, 'a1'));
            let model: { datacenter: string; epoch: number; since: string } | undefined;
            for (const [i, { dc, offset }] of steps.entries()) {
              const expected = (model?.epoch ?? 0) + offset;
              const claim = store.claimPlacement(meetingId, dc, expected, at(i));
              if (expected === (model?.epoch ?? 0)) {
                model = { datacenter: dc, epoch: expected + 1, since: at(i) };
                expect(await claim).toStrictEqual({ won: true, placement: { meetingId, ...model } });
              } else if (model) {
                expect(await claim).toStrictEqual({ won: false, placement: { meetingId, ...model } });
              } else {
                await expectCode(claim, 'STORE_CONFLICT');
              }
            }
            expect(await store.getPlacement(meetingId)).toStrictEqual(model && { meetingId, ...model });
          }),
          { numRuns: 40 },
        );
      });
    });

    describe('placement release', () => {
      it('releases a placement only at its current epoch, and a released meeting is claimed afresh from epoch 0', async () => {
        await seedMeeting('m1');
        await store.claimPlacement('m1', 'us-east', 0, at(1));
        await store.claimPlacement('m1', 'us-west', 1, at(2));
        expect(await store.releasePlacement('m1', 1)).toBe(false);
        expect((await store.getPlacement('m1'))?.datacenter).toBe('us-west');
        expect(await store.releasePlacement('m1', 2)).toBe(true);
        expect(await store.getPlacement('m1')).toBeUndefined();
        expect(await store.releasePlacement('m1', 2)).toBe(false);
        expect((await store.claimPlacement('m1', 'ca-central', 0, at(3))).won).toBe(true);
      });

      it('lists every placement by meeting id', async () => {
        await seedMeeting('m2');
        await seedMeeting('m1');
        await store.claimPlacement('m2', 'us-east', 0, at(1));
        await store.claimPlacement('m1', 'eu-west', 0, at(2));
        expect(await store.listPlacements()).toStrictEqual([
          { meetingId: 'm1', datacenter: 'eu-west', epoch: 1, since: at(2) },
          { meetingId: 'm2', datacenter: 'us-east', epoch: 1, since: at(1) },
        ]);
      });
    });

    describe('participants', () => {
      it('adds, lists (by join time, then id) and removes participants, per meeting', async () => {
        await seedMeeting('m1');
        await seedMeeting('m2');
        const late = participant('p-late', 'm1', { joinedAt: at(5), plan: 'government' });
        const b = participant('p-b', 'm1', { joinedAt: at(1), country: 'FR' });
        const a = participant('p-a', 'm1', { joinedAt: at(1) });
        await store.addParticipant(late);
        await store.addParticipant(b);
        await store.addParticipant(a);
        await store.addParticipant(participant('p-a', 'm2'));
        expect(await store.listParticipants('m1')).toStrictEqual([a, b, late]);

        expect(await store.removeParticipant('m1', 'p-a', { session: 'dec-p-a', datacenter: 'eu-central' })).toBe(true);
        expect((await store.listParticipants('m1')).map((p) => p.id)).toEqual(['p-b', 'p-late']);
        expect((await store.listParticipants('m2')).map((p) => p.id)).toEqual(['p-a']);
      });

      it('treats removing an absent participant as a no-op', async () => {
        await seedMeeting('m1');
        expect(await store.removeParticipant('m1', 'nobody', { session: 'dec-x', datacenter: 'eu-central' })).toBe(false);
        expect(await store.removeParticipant('no-meeting', 'nobody', { session: 'dec-x', datacenter: 'eu-central' })).toBe(false);
        expect(await store.listParticipants('m1')).toEqual([]);
        expect(await store.listParticipants('no-meeting')).toEqual([]);
      });

      it('replaces a participant added again (a reconnect) and returns the row it replaced', async () => {
        await seedMeeting('m1');
        const first = participant('p1', 'm1');
        expect(await store.addParticipant(first)).toBeUndefined();
        expect(await store.addParticipant(participant('p1', 'm1', { country: 'US', datacenter: 'us-east', session: 'dec-2' }))).toStrictEqual(first);
        const list = await store.listParticipants('m1');
        expect(list).toHaveLength(1);
        expect(list[0]).toMatchObject({ country: 'US', datacenter: 'us-east', session: 'dec-2' });
      });

      it('removes a participant only for its current session at its datacenter: a late departure of an older session, or another bridge’s word, removes nothing', async () => {
        await seedMeeting('m1');
        await store.addParticipant(participant('p1', 'm1', { session: 'dec-old' }));
        await store.addParticipant(participant('p1', 'm1', { session: 'dec-new', datacenter: 'us-east' }));
        expect(await store.removeParticipant('m1', 'p1', { session: 'dec-old', datacenter: 'eu-central' })).toBe(false);
        expect(await store.removeParticipant('m1', 'p1', { session: 'dec-new', datacenter: 'eu-central' })).toBe(false);
        expect((await store.listParticipants('m1')).map((p) => p.session)).toEqual(['dec-new']);
        expect(await store.removeParticipant('m1', 'p1', { session: 'dec-new', datacenter: 'us-east' })).toBe(true);
        expect(await store.listParticipants('m1')).toEqual([]);
      });

      it('lists and removes every participant of one datacenter, across meetings', async () => {
        await seedMeeting('m1');
        await seedMeeting('m2');
        const a = participant('p-a', 'm1', { datacenter: 'us-east' });
        const b = participant('p-b', 'm2', { datacenter: 'us-east' });
        const c = participant('p-c', 'm1', { datacenter: 'us-west' });
        for (const p of [b, c, a]) await store.addParticipant(p);
        expect(await store.listParticipantsAt('us-east')).toStrictEqual([a, b]);
        expect(await store.listParticipantsAt('us-west')).toStrictEqual([c]);
        expect(await store.removeParticipantsAt('us-east')).toStrictEqual([a, b]);
        expect(await store.listParticipants('m1')).toStrictEqual([c]);
        expect(await store.listParticipants('m2')).toEqual([]);
        expect(await store.removeParticipantsAt('us-east')).toEqual([]);
      });

      it('counts participants per datacenter and meeting, and a removal counts at once', async () => {
        expect(await store.countParticipants()).toEqual([]);
        await seedMeeting('m1');
        await seedMeeting('m2');
        for (const p of [
          participant('p-a', 'm1', { datacenter: 'us-east' }),
          participant('p-b', 'm1', { datacenter: 'us-east' }),
          participant('p-c', 'm1', { datacenter: 'us-west' }),
          participant('p-d', 'm2', { datacenter: 'us-east' }),
        ]) {
          await store.addParticipant(p);
        }
        // A reconnect replaces a row: still one participant.
        await store.addParticipant(participant('p-a', 'm1', { datacenter: 'us-east', session: 'dec-again' }));
        const sorted = async () => (await store.countParticipants()).sort((x, y) => compareStrings(x.datacenter, y.datacenter) || compareStrings(x.meetingId, y.meetingId));
        expect(await sorted()).toStrictEqual([
          { datacenter: 'us-east', meetingId: 'm1', participants: 2 },
          { datacenter: 'us-east', meetingId: 'm2', participants: 1 },
          { datacenter: 'us-west', meetingId: 'm1', participants: 1 },
        ]);
        await store.removeParticipantsAt('us-east');
        expect(await sorted()).toStrictEqual([{ datacenter: 'us-west', meetingId: 'm1', participants: 1 }]);
      });

      it('keeps a meeting’s allowed jurisdictions', async () => {
        await seedMeeting('m9');
        await store.createMeeting(meeting('m10', 'a1', { allowedJurisdictions: ['DE', 'FR'] }));
        expect((await store.getMeeting('m10'))?.allowedJurisdictions).toEqual(['DE', 'FR']);
        expect((await store.getMeeting('m9'))?.allowedJurisdictions).toBeUndefined();
      });

      it('rejects a participant of an unknown meeting with STORE_NOT_FOUND', async () => {
        await expectCode(store.addParticipant(participant('p1', 'nope')), 'STORE_NOT_FOUND');
      });
    });

    describe('manifests', () => {
      it('has no manifest at first', async () => {
        expect(await store.latestManifest()).toBeUndefined();
        expect(await store.listManifests()).toEqual([]);
      });

      it('numbers manifests 1, 2, 3 and returns the latest', async () => {
        const saved = [];
        for (const n of [1, 2, 3]) saved.push(await store.saveManifest(`version: 1 # ${String(n)}`, `sha-${String(n)}`, `admin-${String(n)}`, at(n)));
        expect(saved.map((m) => m.version)).toEqual([1, 2, 3]);
        expect(saved[2]).toStrictEqual({ version: 3, text: 'version: 1 # 3', sha256: 'sha-3', createdAt: at(3), actor: 'admin-3' });
        expect(await store.latestManifest()).toStrictEqual(saved[2]);
        expect(await store.listManifests()).toStrictEqual(saved);
      });

      it('gives simultaneous saves distinct consecutive versions', async () => {
        const saved = await Promise.all(Array.from({ length: 10 }, (_, i) => store.saveManifest(`m${String(i)}`, `s${String(i)}`, 'admin', at(i))));
        expect(saved.map((m) => m.version).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect((await store.latestManifest())?.version).toBe(10);
      });

      it('saves after a named version only while it is the newest, and of simultaneous such saves exactly one wins', async () => {
        expect((await store.saveManifest('m1', 's1', 'admin', at(1), 0)).version).toBe(1);
        await expectCode(store.saveManifest('m-late', 's', 'admin', at(2), 0), 'STORE_CONFLICT');
        const race = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => store.saveManifest(`m2-${String(i)}`, `s2-${String(i)}`, 'admin', at(2), 1)));
        const won = race.filter((r) => r.status === 'fulfilled');
        expect(won.map((r) => r.value.version)).toEqual([2]);
        for (const r of race) if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('STORE_CONFLICT');
        expect((await store.listManifests()).map((m) => m.version)).toEqual([1, 2]);
        // Without `after`, a save takes the next version whatever it is.
        expect((await store.saveManifest('m3', 's3', 'admin', at(3))).version).toBe(3);
      });

      it('discards the newest version only, and never gives its number to another text', async () => {
        for (const n of [1, 2]) await store.saveManifest(`m${String(n)}`, `s${String(n)}`, 'admin', at(n));
        expect(await store.discardManifest(1)).toBe(false);
        expect(await store.discardManifest(2)).toBe(true);
        expect(await store.discardManifest(2)).toBe(false);
        expect((await store.listManifests()).map((m) => m.version)).toEqual([1]);
        expect((await store.latestManifest())?.version).toBe(1);
        // A change read against the discarded version 2 lands nowhere; one read against 1 lands as 3.
        await expect(store.saveManifest('m3', 's3', 'admin', at(3), 2)).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
        const saved = await store.saveManifest('m3', 's3', 'admin', at(3), 1);
        expect(saved.version).toBe(3);
        expect((await store.listManifests()).map((m) => [m.version, m.text])).toEqual([[1, 'm1'], [3, 'm3']]);
        // Discarding 3 leaves 1 the newest again; the next save is 4.
        expect(await store.discardManifest(3)).toBe(true);
        expect((await store.saveManifest('m4', 's4', 'admin', at(4), 1)).version).toBe(4);
      });
    });

    describe('signing keys', () => {
      it('lists keys newest first', async () => {
        const k1 = signingKey('k1', at(1));
        const k3 = signingKey('k3', at(3));
        const k2 = signingKey('k2', at(2));
        for (const k of [k1, k3, k2]) await store.saveSigningKey(k);
        expect(await store.listSigningKeys()).toStrictEqual([k3, k2, k1]);
      });

      it('retires every other key, keeping an earlier retirement time and the kept key active', async () => {
        for (const k of [signingKey('k1', at(1)), signingKey('k2', at(2)), signingKey('k3', at(3))]) await store.saveSigningKey(k);
        await store.retireSigningKeysExcept('k3', at(10));
        await store.saveSigningKey(signingKey('k4', at(4)));
        await store.retireSigningKeysExcept('k4', at(20));
        const retiredAt = Object.fromEntries((await store.listSigningKeys()).map((k) => [k.kid, k.retiredAt]));
        expect(retiredAt).toStrictEqual({ k1: at(10), k2: at(10), k3: at(20), k4: undefined });
        expect((await store.listSigningKeys())[0]).toStrictEqual(signingKey('k4', at(4)));
      });

      it("retires only the keeping key's holder's keys (and keys without a holder), never another broker's; keeps the holder", async () => {
        const a1 = { ...signingKey('a1', at(1)), holder: 'broker-a' };
        const b1 = { ...signingKey('b1', at(2)), holder: 'broker-b' };
        const a2 = { ...signingKey('a2', at(3)), holder: 'broker-a' };
        for (const k of [signingKey('old', at(0)), a1, b1, a2]) await store.saveSigningKey(k);
        await store.retireSigningKeysExcept('a2', at(10));
        const retiredAt = Object.fromEntries((await store.listSigningKeys()).map((k) => [k.kid, k.retiredAt]));
        expect(retiredAt).toStrictEqual({ old: at(10), a1: at(10), b1: undefined, a2: undefined });
        expect((await store.listSigningKeys()).find((k) => k.kid === 'b1')).toStrictEqual(b1);
      });

      it('rejects retiring around an unknown key with STORE_NOT_FOUND and retires nothing', async () => {
        await store.saveSigningKey(signingKey('k1', at(1)));
        await expectCode(store.retireSigningKeysExcept('nope', at(2)), 'STORE_NOT_FOUND');
        expect((await store.listSigningKeys())[0]?.retiredAt).toBeUndefined();
      });

      it('revokes a key, keeping the first revocation time, and leaves the others alone', async () => {
        for (const k of [signingKey('k1', at(1)), signingKey('k2', at(2))]) await store.saveSigningKey(k);
        await store.retireSigningKeysExcept('k2', at(3));
        await store.revokeSigningKey('k1', at(4));
        await store.revokeSigningKey('k1', at(5));
        expect(await store.listSigningKeys()).toStrictEqual([signingKey('k2', at(2)), { ...signingKey('k1', at(1)), retiredAt: at(3), revokedAt: at(4) }]);
      });

      it('rejects revoking an unknown key with STORE_NOT_FOUND', async () => {
        await store.saveSigningKey(signingKey('k1', at(1)));
        await expectCode(store.revokeSigningKey('nope', at(2)), 'STORE_NOT_FOUND');
        expect(await store.listSigningKeys()).toStrictEqual([signingKey('k1', at(1))]);
      });

      it('rejects a duplicate kid with STORE_CONFLICT', async () => {
        await store.saveSigningKey(signingKey('k1', at(1)));
        await expectCode(store.saveSigningKey(signingKey('k1', at(2))), 'STORE_CONFLICT');
        expect(await store.listSigningKeys()).toStrictEqual([signingKey('k1', at(1))]);
      });
    });

    describe('isolation from callers', () => {
      it('does not keep a reference to objects passed in', async () => {
        const jurisdictions = ['DE'];
        const a = { ...account('a1'), allowedJurisdictions: jurisdictions };
        await store.createAccount(a);
        jurisdictions.push('US');
        a.name = 'Changed';
        expect(await store.getAccount('a1')).toStrictEqual(account('a1', { allowedJurisdictions: ['DE'] }));

        const policy = ['FR'];
        await store.updateAccountPolicy('a1', { allowedJurisdictions: policy });
        policy.push('US');
        expect((await store.getAccount('a1'))?.allowedJurisdictions).toEqual(['FR']);

        const jwk: Record<string, string> = { kty: 'OKP', x: 'x' };
        await store.saveSigningKey({ ...signingKey('k1', at(1)), publicJwk: jwk });
        jwk.x = 'tampered';
        expect((await store.listSigningKeys())[0]?.publicJwk.x).toBe('x');
      });

      it('returns copies: mutating a returned object or array does not change the store', async () => {
        await store.createAccount(account('a1', { allowedJurisdictions: ['DE'] }));
        await store.createMeeting(meeting('m1', 'a1'));
        await store.claimPlacement('m1', 'fra1', 0, at(1));
        await store.addParticipant(participant('p1', 'm1'));
        await store.saveSigningKey(signingKey('k1', at(1)));
        await store.saveManifest('text', 'sha', 'admin', at(1));

        ((await store.getAccount('a1'))?.allowedJurisdictions as string[]).push('US');
        ((await store.findAccountByApiKeyHash('hash-a1'))?.allowedJurisdictions as string[]).push('US');
        ((await store.listAccounts())[0]?.allowedJurisdictions as string[]).push('US');
        ((await store.updateAccountPolicy('a1', { allowedJurisdictions: ['DE'] })).allowedJurisdictions as string[]).push('US');
        expect((await store.getAccount('a1'))?.allowedJurisdictions).toEqual(['DE']);

        const accounts = await store.listAccounts();
        accounts.pop();
        expect(await store.listAccounts()).toHaveLength(1);

        (await store.getMeeting('m1') as { title: string }).title = 'Changed';
        (await store.listLiveMeetings()).length = 0;
        expect(await store.listLiveMeetings()).toStrictEqual([meeting('m1', 'a1')]);

        (await store.getPlacement('m1') as { datacenter: string }).datacenter = 'evil1';
        ((await store.claimPlacement('m1', 'x', 0, at(2))).placement as { epoch: number }).epoch = 99;
        expect(await store.getPlacement('m1')).toStrictEqual({ meetingId: 'm1', datacenter: 'fra1', epoch: 1, since: at(1) });

        ((await store.listParticipants('m1'))[0] as { country: string }).country = 'US';
        expect((await store.listParticipants('m1'))[0]?.country).toBe('DE');

        ((await store.listSigningKeys())[0]?.publicJwk as Record<string, string>).x = 'changed';
        expect((await store.listSigningKeys())[0]).toStrictEqual(signingKey('k1', at(1)));

        (await store.latestManifest() as { text: string }).text = 'changed';
        expect((await store.latestManifest())?.text).toBe('text');
      });
    });

    describe('close', () => {
      it('is idempotent', async () => {
        await store.close();
        await store.close();
      });

      it('makes later calls reject with STORE_UNAVAILABLE', async () => {
        await store.close();
        await expectCode(store.getAccount('a1'), 'STORE_UNAVAILABLE');
        await expectCode(store.claimPlacement('m1', 'fra1', 0, at(1)), 'STORE_UNAVAILABLE');
      });
    });
  });
}
