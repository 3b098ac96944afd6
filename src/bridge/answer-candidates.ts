/**
 * The candidates a client's answer may bring. werift takes every
 * `a=candidate` line of an answer and pairs it with each local candidate,
 * re-sorting its whole check list for each one in one synchronous call: an
 * answer with thousands of candidates froze the bridge's event loop (every
 * meeting on it) for tens of seconds, and made it send checks to addresses
 * the client chose. A browser's answer carries a handful; the same ones come
 * again with each later answer. A hop's receiving end bounds the sending
 * bridge's offers the same way (relay-link.ts).
 */

/** Distinct candidates a participant's answers may bring in a connection's life (trickled ones have their own budget). */
export const MAX_ANSWER_CANDIDATES = 32;

/**
 * `sdp` with its candidate lines past the budget taken out: a candidate
 * already in `seen` (this connection's earlier answers) passes again, a new
 * one passes while `seen` holds fewer than `max`, and is added to it.
 */
export function boundAnswerCandidates(sdp: string, seen: Set<string>, max = MAX_ANSWER_CANDIDATES): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol).filter((line) => {
    if (!line.startsWith('a=candidate:')) return true;
    const candidate = line.trim();
    if (seen.has(candidate)) return true;
    if (seen.size >= max) return false;
    seen.add(candidate);
    return true;
  });
  return lines.join(eol);
}
