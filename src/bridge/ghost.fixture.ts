/**
 * Test fixture: a ghost MLS member, as a colluding broker and bridge make
 * one. The broker's own key ring (opened from its store, as a broker would
 * use it) vouches for a signature key the test holds; the bridge relays the
 * ghost's key package to a meeting's members as if a participant had sent it:
 * one naming that participant is added like any other (a second leaf), one
 * naming anyone else is dropped as it arrives.
 */
import { join } from 'node:path';
import { KeyRing } from '../broker/keys.js';
import { SigningKeyFiles } from '../broker/signing-key-secrets.js';
import { SqliteStore } from '../broker/store/sqlite-store.js';
import { issueIdentityAssertion } from '../broker/tickets.js';
import { createKeyPackage, createMemberIdentity, encodeKeyPackage, generateSignatureKeyPair, loadCipherSuite, signatureKeyClaim } from '../mls/index.js';
import type { Cluster } from './cluster.fixture.js';

/** A key package for `participant` named `name` in `meeting`, with an identity assertion signed by the cluster's broker keys. */
export async function ghostKeyPackage(cluster: Cluster, meeting: string, participant: string, name: string): Promise<Uint8Array> {
  const cs = await loadCipherSuite();
  const keyPair = await generateSignatureKeyPair(cs);
  const store = SqliteStore.open(join(cluster.dataDir, 'broker.sqlite'));
  try {
    const secrets = new SigningKeyFiles(cluster.dataDir);
    const keys = await KeyRing.load(store, () => new Date(), { secrets, holder: secrets.holder() });
    const { token } = await issueIdentityAssertion(keys, { participant, meeting, name, signatureKey: signatureKeyClaim(keyPair.publicKey) });
    return encodeKeyPackage(await createKeyPackage(createMemberIdentity(keyPair, token), cs));
  } finally {
    await store.close();
  }
}

/** Relays `keyPackage` through the meeting's MLS relay on `datacenter`'s bridge as if `from` (a participant there) had sent it. */
export function injectKeyPackage(cluster: Cluster, datacenter: string, meeting: string, from: string, keyPackage: Uint8Array): void {
  const room = cluster.bridges.get(datacenter)?.rooms.get(meeting);
  if (!room) throw new Error(`no room for ${meeting} on ${datacenter}`);
  const others = [...room.participants.keys()].filter((id) => id !== from);
  const outgoing = room.mls.submit(from, { type: 'mls', kind: 'key-package', data: Buffer.from(keyPackage).toString('base64url') }, others);
  for (const out of outgoing) room.participants.get(out.to)?.notify(out.message);
}
