// Messages a bridge does not apply. What a client sends after its session ended (here, after `leave`, while the
// socket's close is under way): it used to re-announce the departed participant, relay an MLS key package from it,
// and, with `mls-joined`, make it a holder of the group again, so when the real founder left the one waiting for a
// Welcome was never asked to found a new group. And a message a participant may not send, refused in the bridge's
// own words. And an answer that is no answer to the offer, refused as the client's mistake rather than failing the media path.
import type WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKeyPackage, encodeKeyPackage, loadCipherSuite } from '../mls/group.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { rawJoin, until, type RawMessage } from './participant.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 60_000);

afterAll(async () => {
  await cluster.close();
}, 30_000);

/** A raw signalling socket admitted to `meeting` as `name`, every message it got, and its participant id. */
async function joined(meeting: string, name: string): Promise<{ ws: WebSocket; got: RawMessage[]; id: string }> {
  const { ws, got } = await rawJoin(cluster, meeting, name, 'us-east');
  await until(() => got.some((m) => m.type === 'offer' || m.type === 'refused'), 20_000);
  const admitted = got.find((m) => m.type === 'admitted');
  expect(admitted, JSON.stringify(got)).toBeDefined();
  return { ws, got, id: String(admitted?.participant) };
}

it('applies nothing a client sends after its leave: the others see it go, and are asked to found a group when the founder goes', async () => {
  const cs = await loadCipherSuite();
  const keyPackage = Buffer.from(encodeKeyPackage(await createKeyPackage({ signatureKeyPair: await cs.signature.keygen(), credential: { credentialType: 'basic', identity: new Uint8Array(8) } } as never, cs))).toString('base64url');
  const meeting = await cluster.meeting('After leave');
  const bo = await joined(meeting, 'Bo');
  const ada = await joined(meeting, 'Ada');
  const cy = await joined(meeting, 'Cy');
  try {
    const mark = cy.got.length;
    // Ada leaves, and her client goes on in the same breath.
    ada.ws.send(JSON.stringify({ type: 'leave' }));
    ada.ws.send(JSON.stringify({ type: 'state', audio: false, video: false }));
    ada.ws.send(JSON.stringify({ type: 'mls', kind: 'key-package', data: keyPackage }));
    ada.ws.send(JSON.stringify({ type: 'mls-joined', epoch: 0 }));
    await until(() => cy.got.slice(mark).some((m) => m.type === 'peer-left' && m.id === ada.id), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const fromAda = cy.got.slice(mark).filter((m) => m.type !== 'offer' && (m.id === ada.id || m.from === ada.id || (m.peer as { id?: string } | undefined)?.id === ada.id));
    expect(fromAda.map((m) => m.type)).toEqual(['peer-left']);
    // The founder goes: Cy, alone and waiting for a Welcome, founds the group anew.
    const beforeBo = cy.got.length;
    bo.ws.send(JSON.stringify({ type: 'leave' }));
    await until(() => cy.got.slice(beforeBo).some((m) => m.type === 'mls-found'), 10_000);
    expect(cy.got.slice(beforeBo).map((m) => m.type)).toContain('mls-found');
  } finally {
    for (const s of [ada, bo, cy]) s.ws.terminate();
  }
}, 60_000);

it('refuses a message a participant may not send with the bridge’s own code and words, not a vague one', async () => {
  const meeting = await cluster.meeting('Wrong message');
  const ada = await joined(meeting, 'Ada');
  try {
    ada.ws.send(JSON.stringify({ type: 'relay-update', ticket: 'x.y.z' }));
    await until(() => ada.got.some((m) => m.type === 'refused'), 10_000);
    expect(ada.got.find((m) => m.type === 'refused')).toEqual({ type: 'refused', code: 'BAD_MESSAGE', message: 'relay-update is for bridges that relay, not for participants' });
  } finally {
    ada.ws.terminate();
  }
}, 60_000);

it('refuses an answer that is not an SDP answer to its offer as the client’s mistake, naming what it lacks', async () => {
  const meeting = await cluster.meeting('Bad answer');
  const ada = await joined(meeting, 'Ada');
  try {
    ada.ws.send(JSON.stringify({ type: 'answer', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n' }));
    await until(() => ada.got.some((m) => m.type === 'refused'), 10_000);
    expect(ada.got.find((m) => m.type === 'refused')).toEqual({ type: 'refused', code: 'BAD_MESSAGE', message: "the answer is not an SDP answer to the bridge's offer: it has 0 m-lines, and the offer it answers 3." });
  } finally {
    ada.ws.terminate();
  }
}, 60_000);
