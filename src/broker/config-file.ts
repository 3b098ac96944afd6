/**
 * `serve --config FILE`: the same settings as the flags, in a YAML file an
 * operator keeps under configuration management. Keys are the flags' names
 * without `--` (`store: postgres://…`, `rate-limit-requests: 600`); flags
 * and environment variables win over the file. Paths in it (the manifest,
 * the data directory, the bridge keys, the GeoIP database) are read from the
 * file's own directory, so a deployment's files can move together. Every
 * problem is reported with its place (file:line:col).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';

/** The settings a config file gave, as flag values, and what was wrong with it. */
export interface ConfigFile {
  /** By setting name (the flag's, in camelCase: `rateLimitRequests`). */
  readonly values: Readonly<Record<string, string | undefined>>;
  readonly problems: readonly string[];
}

/** Keys whose values are paths, read from the config file's directory. */
const PATHS: ReadonlySet<string> = new Set(['manifest', 'data', 'bridgeKeys', 'geoip']);

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Reads `path` as serve's settings; `known` lists the settings a file may set (camelCase). */
export function readConfigFile(path: string, known: readonly string[]): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { values: {}, problems: [`--config: cannot read '${path}'. Check the path.`] };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number | undefined): string => {
    const { line, col } = lines.linePos(offset ?? 0);
    return `${path}:${String(line)}:${String(col)}`;
  };
  const syntax = doc.errors[0];
  // Nesting past the parser's stack comes back as its own exhaustion: said as what it is, not as a stack overflow.
  const what = syntax?.code === 'RESOURCE_EXHAUSTION' ? 'it nests too deep (each setting is a single value)' : syntax?.message.split('\n')[0];
  if (syntax) return { values: {}, problems: [`${at(syntax.pos[0])}: ${what ?? 'not YAML'}; fix the YAML.`] };
  if (doc.contents === null) return { values: {}, problems: [] };
  if (!isMap(doc.contents)) return { values: {}, problems: [`${at(doc.contents.range[0])}: the config file must be a mapping of settings, e.g. "store: postgres://…".`] };
  const values: Record<string, string> = {};
  const problems: string[] = [];
  const names = new Set<string>(known);
  const seen = new Map<string, string>();
  for (const pair of doc.contents.items) {
    const keyNode = isScalar(pair.key) ? pair.key : undefined;
    const name = keyNode ? camel(String(keyNode.value)) : '';
    if (!keyNode || !names.has(name)) {
      // A key that is not a scalar (`? [a]`, an alias) has no name to print; its place is enough.
      const place = isNode(pair.key) ? pair.key.range[0] : undefined;
      problems.push(`${at(place)}: unknown setting ${keyNode ? `'${String(keyNode.value)}'` : '(a key that is not a name)'}; the settings are serve's flags without '--' (see 'geobridge serve --help').`);
      continue;
    }
    // YAML's own duplicate check compares keys as written: 'rate-limit-requests' and 'rateLimitRequests' are one setting.
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      problems.push(`${at(keyNode.range[0])}: '${String(keyNode.value)}' sets '${earlier}' again; keep one of them.`);
      continue;
    }
    seen.set(name, String(keyNode.value));
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      problems.push(`${at(keyNode.range[0])}: '${String(keyNode.value)}' needs a single value (text, a number or true/false).`);
      continue;
    }
    const textValue = String(value);
    values[name] = PATHS.has(name) ? resolve(dirname(path), textValue) : textValue;
  }
  return { values, problems };
}
