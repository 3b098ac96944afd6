/**
 * Policy changes the data-plane tests make to examples/world.yaml: a clean
 * manifest (`geobridge check` passes it) that keeps Canadians in Canada.
 */

/** world.yaml with Canada in a zone of its own and a fence `canada-stays-in-canada` (clients [CA], allow [CA]). */
export function canadaStaysInCanada(worldYaml: string): string {
  const edited = worldYaml
    .replace('    countries: [US, CA, MX]\n', '    countries: [US, MX]\n')
    .replace('  north-america:\n', '  canada:\n    countries: [CA]\n    primaries: [ca-central]\n  north-america:\n')
    .replace(/^fences:\n/m, 'fences:\n  - name: canada-stays-in-canada\n    clients: [CA]\n    allow: [CA]\n');
  if (!edited.includes('canada-stays-in-canada') || edited.includes('[US, CA, MX]')) throw new Error('world.yaml changed: update canadaStaysInCanada');
  return edited;
}
