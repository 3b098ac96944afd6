/**
 * The flags that `route` and `plan` share: a participant's location and the
 * live state of the datacenters (--down, --utilization).
 */
import { GeobridgeError } from '../core/errors.js';
import type { GeoPoint, Manifest } from '../core/manifest/types.js';
import type { LiveState } from '../core/select/select.js';
import { splitList } from './args.js';

/** Parses `LAT,LON` in degrees; `flag` names the option in the error. */
export function parseLocation(text: string, flag = '--location'): GeoPoint {
  const parts = text.split(',').map((s) => Number(s.trim()));
  const [lat, lon] = parts;
  if (parts.length !== 2 || lat === undefined || lon === undefined || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    throw new GeobridgeError('INVALID_LOCATION', `${flag} '${text}' must be LAT,LON in degrees, e.g. 52.52,13.40 (lat -90..90, lon -180..180).`);
  }
  return { lat, lon };
}

/** Live state from --down DC,DC and --utilization DC=U,…, every id a datacenter of the manifest. */
export function buildLiveState(manifest: Manifest, down: string | undefined, utilization: string | undefined): LiveState {
  const ids = new Set(manifest.datacenters.map((d) => d.id));
  const known = (flag: string, id: string): string => {
    if (!ids.has(id)) throw new GeobridgeError('UNKNOWN_DATACENTER', `${flag}: '${id}' is not a datacenter of the manifest (known: ${[...ids].join(', ')}).`);
    return id;
  };
  const loads = new Map<string, number>();
  for (const pair of splitList(utilization)) {
    const [id = '', value = '', ...more] = pair.split('=');
    const u = Number(value);
    if (more.length > 0 || value.trim() === '' || !Number.isFinite(u) || u < 0) throw new GeobridgeError('INVALID_UTILIZATION', `--utilization: '${pair}' must be DC=U with U a number ≥ 0, e.g. us-east=0.95.`);
    loads.set(known('--utilization', id.trim()), u);
  }
  return { down: new Set(splitList(down).map((id) => known('--down', id))), utilization: loads };
}
