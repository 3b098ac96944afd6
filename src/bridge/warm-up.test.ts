// A bridge makes werift's DTLS certificate before it enrols, so the first participants after a failover do not wait for it.
import { RTCDtlsTransport } from 'werift';
import { afterAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.close();
});

it('has its DTLS certificate when it starts admitting, before any participant came', async () => {
  // Each test file runs in a process of its own: no peer connection was made here yet.
  expect(RTCDtlsTransport.localCertificate).toBeUndefined();
  cluster = await startCluster(['us-east']);
  expect(RTCDtlsTransport.localCertificate).toBeDefined();
});
