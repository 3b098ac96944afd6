// A routing receipt file keeps any ticket the broker issues: one that carries a large STUN/TURN allowance too.
import { describe, expect, it } from 'vitest';
import { ROUTE_TICKET_MAX_CHARS } from './connection/types.js';
import { parseRoutingReceiptFile, ROUTING_RECEIPT_FORMAT } from './receipt-file.js';

const promise = { manifestSha256: 'ab'.repeat(32), index: 4, recordHash: 'cd'.repeat(32), timestamp: 1_796_000_000_000, keyId: 'k', signature: 's' };
const head = { size: 5, rootHash: 'r', timestamp: 1_796_000_001_000, keyId: 'k', signature: 's' };

/** A one-route file whose ticket is `length` characters. */
function fileWithTicket(length: number): unknown {
  const ticket = `${'a'.repeat(length - 4)}.b.c`;
  const route = { ticket, decisionId: 'dec_1', participant: 'p1', country: 'DE', candidates: [{ datacenter: 'eu-central', jurisdiction: 'DE' }], receipt: promise, receivedAt: '2026-03-01T09:00:00.000Z', connections: [], sth: head, inclusionProof: [] };
  return { format: ROUTING_RECEIPT_FORMAT, broker: 'https://meet.example', createdAt: '2026-03-01T09:15:00.000Z', routes: [route] };
}

describe('parseRoutingReceiptFile', () => {
  it('takes a ticket up to the longest the broker issues, and refuses a longer one naming it', () => {
    expect(parseRoutingReceiptFile(fileWithTicket(20_000)).ok).toBe(true);
    expect(parseRoutingReceiptFile(fileWithTicket(ROUTE_TICKET_MAX_CHARS)).ok).toBe(true);
    expect(parseRoutingReceiptFile(fileWithTicket(ROUTE_TICKET_MAX_CHARS + 1))).toEqual({ ok: false, error: "routes[0]: field 'ticket' is malformed" });
  });
});
