/**
 * Manifest printer: Manifest → canonical YAML. `parseManifest(printManifest(m))`
 * gives `m` back (a property test holds it to that).
 */
import { Document, isScalar, visit } from 'yaml';
import type { Manifest } from './types.js';

/** Prints a manifest as canonical YAML. */
export function printManifest(manifest: Manifest): string {
  const doc = new Map<string, unknown>([['version', manifest.version]]);
  if (manifest.groups.length > 0) doc.set('groups', new Map(manifest.groups.map((g) => [g.id, [...g.members]])));
  doc.set(
    'datacenters',
    new Map(
      manifest.datacenters.map((d) => {
        const body = new Map<string, unknown>([
          ['jurisdiction', d.jurisdiction],
          ['location', new Map([['lat', d.location.lat], ['lon', d.location.lon]])],
          ['capacity', d.capacity],
        ]);
        if (d.tags.length > 0) body.set('tags', [...d.tags]);
        // Every server's jurisdiction is written out, even the datacenter's own: a reviewer should not have to infer where media is relayed.
        if (d.ice.length > 0) body.set('ice', d.ice.map((s) => new Map<string, unknown>([['urls', [...s.urls]], ['jurisdiction', s.jurisdiction]])));
        return [d.id, body];
      }),
    ),
  );
  if (manifest.stores.length > 0) {
    doc.set('stores', new Map(manifest.stores.map((st) => [st.id, new Map<string, unknown>([['jurisdiction', st.jurisdiction], ['location', new Map([['lat', st.location.lat], ['lon', st.location.lon]])]])])));
  }
  doc.set(
    'zones',
    new Map(
      manifest.zones.map((z) => {
        const body = new Map<string, unknown>([
          ['countries', [...z.countries]],
          ['primaries', [...z.primaries]],
          ['secondaries', [...z.secondaries]],
        ]);
        if (z.demand !== undefined) body.set('demand', z.demand);
        return [z.id, body];
      }),
    ),
  );
  if (manifest.fences.length > 0) {
    doc.set(
      'fences',
      manifest.fences.map((f) => {
        const body = new Map<string, unknown>([['name', f.name], ['clients', [...f.clients]]]);
        if (f.allow) body.set('allow', [...f.allow]);
        if (f.deny) body.set('deny', [...f.deny]);
        if (f.transit) body.set('transit', f.transit);
        return body;
      }),
    );
  }
  if (manifest.plans.length > 0) {
    doc.set('plans', new Map(manifest.plans.map((p) => [p.id, new Map<string, unknown>([['tags', [...p.tags]], ['exclusive', p.exclusive]])])));
  }
  doc.set('selection', new Map(Object.entries(manifest.selection)));
  const yaml = new Document(doc);
  // Lists of ids and codes read best on one line: `primaries: [us-east, us-west]`.
  visit(yaml, {
    Seq(_, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return yaml.toString({ lineWidth: 120 });
}
