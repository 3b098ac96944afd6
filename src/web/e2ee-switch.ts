/**
 * The dev-only switch that turns end-to-end encryption off on the meeting
 * page (`?e2ee=off`), so benchmarks can compare a join with and without it.
 * A production broker (`/v1/info` says `dev: false`) ignores the parameter:
 * nobody can be talked into an unencrypted call by a crafted link.
 */

/** Whether the page joins with end-to-end encryption: always, unless `e2ee=off` is in the query AND the broker runs in dev mode. */
export function e2eeWanted(params: URLSearchParams, dev: boolean): boolean {
  return !(dev && params.get('e2ee') === 'off');
}
