// An answer's candidates are bounded per connection; the ones an earlier answer brought pass again.
import { describe, expect, it } from 'vitest';
import { boundAnswerCandidates, MAX_ANSWER_CANDIDATES } from './answer-candidates.js';

const candidate = (i: number): string => `a=candidate:${String(i)} 1 udp 2122260223 127.77.${String(i >> 8)}.${String(i & 255)} 40009 typ host`;
const answer = (candidates: readonly string[], eol = '\r\n'): string => ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', ...candidates, 'a=mid:0', ''].join(eol);

describe('boundAnswerCandidates', () => {
  it('takes out candidates past the budget and keeps every other line, in order, with its line ends', () => {
    const many = Array.from({ length: 3900 }, (_, i) => candidate(i));
    const seen = new Set<string>();
    const bounded = boundAnswerCandidates(answer(many), seen);
    expect(bounded).toBe(answer(many.slice(0, MAX_ANSWER_CANDIDATES)));
    expect(seen.size).toBe(MAX_ANSWER_CANDIDATES);
    expect(boundAnswerCandidates(answer(many, '\n'), new Set())).toBe(answer(many.slice(0, MAX_ANSWER_CANDIDATES), '\n'));
  });

  it('lets the candidates of an earlier answer pass again, and counts each new one once, across answers', () => {
    const seen = new Set<string>();
    const first = Array.from({ length: 4 }, (_, i) => candidate(i));
    expect(boundAnswerCandidates(answer(first), seen)).toBe(answer(first));
    // A browser's later answers repeat what it gathered: forty renegotiations spend nothing more.
    for (let round = 0; round < 40; round++) expect(boundAnswerCandidates(answer(first), seen)).toBe(answer(first));
    expect(seen.size).toBe(4);
    const fresh = Array.from({ length: 40 }, (_, i) => candidate(100 + i));
    expect(boundAnswerCandidates(answer([...first, ...fresh]), seen)).toBe(answer([...first, ...fresh.slice(0, MAX_ANSWER_CANDIDATES - 4)]));
  });
});
