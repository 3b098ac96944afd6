/**
 * Which STUN/TURN servers a bridge hands an admitted participant
 * (docs/security.md#turn-relays-and-residency). Two sources, each with one
 * job:
 *
 * - the manifest in force (from the broker, over the control channel) says
 *   which servers this datacenter may hand out and where they are; the core's
 *   `allowedIceServers` keeps those inside the participant's allowed
 *   jurisdictions (at admission, those both its route ticket and the policy
 *   in force allow: client-connection.ts);
 * - the bridge's own configuration (`--ice-servers`, `--turn-username`,
 *   `--turn-credential`) says which of them this bridge actually uses, with
 *   the credentials — which never go into the manifest.
 *
 * A participant gets the intersection: a declared URL this bridge has no
 * configuration for is not handed out (a TURN server without credentials is
 * unusable, and an example server declared but never deployed does not
 * exist), and a configured URL the manifest does not declare never is.
 */
import { GeobridgeError } from '../core/errors.js';
import { allowedIceServers } from '../core/ice/allowed.js';
import { ICE_SERVERS_MAX } from '../core/ice/rules.js';
import type { Manifest } from '../core/manifest/types.js';
import { compilePolicy } from '../core/policy/compile.js';
import type { IceServer } from '../protocol/signalling.js';

/** The credentials of one configured URL (none for STUN). */
interface Credentials {
  readonly username?: string;
  readonly credential?: string;
}

/** The servers this bridge is configured with, by URL. */
export class IceConfiguration {
  readonly #byUrl = new Map<string, Credentials>();

  constructor(configured: readonly IceServer[] = []) {
    for (const server of configured) {
      const credentials: Credentials = { ...(server.username !== undefined ? { username: server.username } : {}), ...(server.credential !== undefined ? { credential: server.credential } : {}) };
      for (const url of server.urls) if (!this.#byUrl.has(url)) this.#byUrl.set(url, credentials);
    }
  }

  /** True when this bridge uses any STUN/TURN server. */
  get configured(): boolean {
    return this.#byUrl.size > 0;
  }

  /** The configured URLs the manifest does not declare for `datacenter`, in configured order: they are never handed out. */
  undeclared(manifest: Manifest, datacenter: string): string[] {
    const declared = new Set(compilePolicy(manifest).datacenterById.get(datacenter)?.ice.flatMap((s) => s.urls) ?? []);
    return [...this.#byUrl.keys()].filter((url) => !declared.has(url));
  }

  /**
   * Throws ICE_SERVER_NOT_DECLARED if a configured URL is not declared for
   * `datacenter`: such a URL is never handed out, and at start-up it is a
   * configuration mistake (a typo, or a server not yet declared) worth
   * stopping for rather than leaving clients behind NATs without it.
   */
  refuseUndeclared(manifest: Manifest, datacenter: string): void {
    const undeclared = this.undeclared(manifest, datacenter);
    if (undeclared.length === 0) return;
    throw new GeobridgeError(
      'ICE_SERVER_NOT_DECLARED',
      `the manifest in force declares no STUN/TURN server ${undeclared.join(', ')} for ${datacenter}; a bridge hands out only the servers declared under its datacenter's \`ice\` (written exactly as there), so declare it there (geobridge check applies the fences to it) or drop it from --ice-servers.`,
    );
  }

  /**
   * What a participant with these allowed jurisdictions is handed: each
   * declared server inside them, reduced to the URLs this bridge is
   * configured for, with their credentials. URLs of one declared server with
   * different credentials become one entry per set of credentials.
   */
  handOut(manifest: Manifest | undefined, datacenter: string, allowedJurisdictions: readonly string[]): IceServer[] {
    if (!manifest || this.#byUrl.size === 0) return [];
    const out: IceServer[] = [];
    for (const server of allowedIceServers(manifest, datacenter, allowedJurisdictions)) {
      const groups = new Map<Credentials, string[]>();
      for (const url of server.urls) {
        const credentials = this.#byUrl.get(url);
        if (credentials === undefined) continue;
        const urls = groups.get(credentials);
        if (urls) urls.push(url);
        else groups.set(credentials, [url]);
      }
      for (const [credentials, urls] of groups) out.push({ urls, ...credentials });
    }
    // What one `admitted` message may carry; the manifest's limit is the same, so only mixed credentials can reach it.
    return out.slice(0, ICE_SERVERS_MAX);
  }
}
