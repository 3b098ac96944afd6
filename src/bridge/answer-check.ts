/**
 * What the bridge checks of a participant's answer before werift takes it.
 * werift applies almost any text as a remote description: an answer without
 * ICE credentials or a DTLS fingerprint failed the connection at once, and
 * the client heard MEDIA_PATH_FAILED, as if the network were at fault. An
 * answer (RFC 8829, §5.3) has one m-line per m-line of the offer it answers,
 * the ICE username fragment and password (RFC 8839) and a fingerprint of
 * the DTLS certificate (RFC 8122); one that lacks any of them is refused as
 * the client's mistake, naming what it lacks.
 */

/** Why `answer` cannot answer `offer`, or undefined when it may. */
export function answerProblem(answer: string, offer: string): string | undefined {
  const lines = answer.split(/\r?\n/);
  if (lines[0]?.trim() !== 'v=0') return "it does not start with 'v=0'";
  const offered = mLines(offer.split(/\r?\n/));
  const answered = mLines(lines);
  if (answered !== offered) return `it has ${String(answered)} m-line${answered === 1 ? '' : 's'}, and the offer it answers ${String(offered)}`;
  const missing = [['a=ice-ufrag:', 'ICE username fragment (a=ice-ufrag)'], ['a=ice-pwd:', 'ICE password (a=ice-pwd)'], ['a=fingerprint:', 'DTLS fingerprint (a=fingerprint)']]
    .filter(([prefix]) => !lines.some((line) => line.startsWith(prefix ?? '') && line.trim().length > (prefix ?? '').length))
    .map(([, name]) => name);
  return missing.length === 0 ? undefined : `it has no ${missing.join(', ')}`;
}

function mLines(lines: readonly string[]): number {
  return lines.filter((line) => line.startsWith('m=')).length;
}
