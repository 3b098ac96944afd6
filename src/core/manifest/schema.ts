/**
 * JSON Schema of manifest version 1, for editors (completion, hover help,
 * squiggles) and other tools. parse.ts stays the source of truth: the schema
 * checks each field's shape and range, while references (that a group or
 * datacenter exists), duplicate names and group cycles are left to the parser
 * and `geobridge check`. schema/manifest.schema.json is generated from this
 * module by scripts/write-schema.ts; a test keeps the two equal.
 */
import { ICE_SERVERS_MAX, ICE_URL_MAX_LENGTH, ICE_URL_PATTERN, ICE_URLS_PER_SERVER_MAX } from '../ice/rules.js';
import { COUNT_MAX, DEFAULT_SELECTION } from './types.js';

// The patterns mirror parse.ts. They use only plain groups and alternation (no
// lookahead), the regex subset JSON Schema recommends for portability.
/** Datacenter, zone and plan ids (parse.ts ID). */
const ID = '^[A-Za-z][A-Za-z0-9_.-]{0,63}$';
/** Tags (parse.ts TAG). */
const TAG = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
/** An ISO 3166-1 alpha-2 code in upper case. */
const CODE = '[A-Z]{2}';
/**
 * A group name: an id that is not two letters, so that it can never be read as
 * a country code. Spelled as 1 letter, a letter and a non-letter, or 3–64
 * characters.
 */
const GROUP = '[A-Za-z]([0-9_.-]|[A-Za-z0-9_.-]{2,63})?';

/** JSON Schema (draft 2020-12) of geobridge manifest version 1, exactly as `parseManifest` reads it field by field. */
export const MANIFEST_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://geobridge.dev/schema/manifest-v1.json',
  title: 'geobridge manifest, version 1',
  description: 'Datacenters, client zones, residency fences, plans and selection tunables. Reference: docs/manifest.md.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'datacenters', 'zones'],
  properties: {
    version: {
      title: 'Format version',
      description: 'The manifest format version; always 1.',
      type: 'integer',
      const: 1,
    },
    groups: {
      title: 'Country groups',
      description: 'Named sets of countries, usable wherever a list of countries or jurisdictions is. A name must not be two letters (that reads as a country code).',
      type: 'object',
      propertyNames: { $ref: '#/$defs/groupName' },
      additionalProperties: {
        title: 'Group members',
        description: 'Country codes or other group names (groups may include groups, without cycles). May be empty.',
        type: 'array',
        items: { $ref: '#/$defs/countryOrGroup' },
      },
    },
    datacenters: {
      title: 'Datacenters',
      description: 'Datacenters that can host bridges, by id.',
      type: 'object',
      propertyNames: { $ref: '#/$defs/id' },
      additionalProperties: {
        title: 'Datacenter',
        description: 'A datacenter that can host bridges.',
        type: 'object',
        additionalProperties: false,
        required: ['jurisdiction', 'location', 'capacity'],
        properties: {
          jurisdiction: {
            title: 'Jurisdiction',
            description: 'ISO 3166-1 alpha-2 code of the country whose law governs the datacenter (a code, not a group).',
            $ref: '#/$defs/countryCode',
          },
          location: {
            title: 'Location',
            description: 'Where the datacenter is, in degrees; used to rank datacenters by distance.',
            $ref: '#/$defs/location',
          },
          capacity: {
            title: 'Capacity',
            description: 'Concurrent participants the datacenter can carry (a whole number, 0 to 10^12).',
            type: 'integer',
            minimum: 0,
            maximum: COUNT_MAX,
          },
          tags: {
            title: 'Tags',
            description: 'Optional labels that plans select datacenters by.',
            type: 'array',
            items: { $ref: '#/$defs/tag' },
            default: [],
          },
          ice: {
            title: 'STUN/TURN servers',
            description: "STUN/TURN servers this datacenter's bridge may hand its clients; each participant gets only those in jurisdictions their fences allow. No credentials: they stay in the bridge's configuration.",
            type: 'array',
            maxItems: ICE_SERVERS_MAX,
            items: { $ref: '#/$defs/iceServer' },
            default: [],
          },
        },
      },
    },
    stores: {
      title: 'Record stores',
      description:
        "Where the broker keeps what it records about participants (audit records, participant and meeting rows, receipts), by id. Optional; when declared, each participant's records go to the nearest store whose jurisdiction every fence binding them permits, and `geobridge check` fails a country whose fences permit none.",
      type: 'object',
      propertyNames: { $ref: '#/$defs/id' },
      additionalProperties: {
        title: 'Record store',
        description: 'A regional store of personal records; the broker configuration gives its database.',
        type: 'object',
        additionalProperties: false,
        required: ['jurisdiction', 'location'],
        properties: {
          jurisdiction: {
            title: 'Jurisdiction',
            description: 'ISO 3166-1 alpha-2 code of the country whose law governs the data it holds (a code, not a group).',
            $ref: '#/$defs/countryCode',
          },
          location: {
            title: 'Location',
            description: 'Where the store is, in degrees; of the stores a participant may use, the nearest holds their records.',
            $ref: '#/$defs/location',
          },
        },
      },
    },
    zones: {
      title: 'Zones',
      description: "Client zones, by id: the countries each serves and the datacenters their clients may try.",
      type: 'object',
      propertyNames: { $ref: '#/$defs/id' },
      additionalProperties: {
        title: 'Zone',
        description: 'A client zone: its countries and their datacenter lists.',
        type: 'object',
        additionalProperties: false,
        required: ['countries', 'primaries'],
        properties: {
          countries: {
            title: 'Countries',
            description: "Country codes or group names the zone serves; '*' = every country no other zone names.",
            type: 'array',
            minItems: 1,
            items: { $ref: '#/$defs/zoneCountry' },
          },
          primaries: {
            title: 'Primaries',
            description: 'Datacenter ids tried first, with retries; the engine ranks them by distance and headroom.',
            type: 'array',
            items: { $ref: '#/$defs/datacenterId' },
          },
          secondaries: {
            title: 'Secondaries',
            description: 'The backup list: datacenter ids from which `selection.secondaries` backups are offered.',
            type: 'array',
            items: { $ref: '#/$defs/datacenterId' },
            default: [],
          },
          demand: {
            title: 'Demand',
            description: 'Optional forecast peak of concurrent participants, for capacity checks (0 to 10^12).',
            type: 'integer',
            minimum: 0,
            maximum: COUNT_MAX,
          },
        },
      },
    },
    fences: {
      title: 'Fences',
      description: 'Hard residency rules; never relaxed at run time.',
      type: 'array',
      items: {
        title: 'Fence',
        description: 'A hard residency rule with exactly one of `allow` and `deny`.',
        type: 'object',
        additionalProperties: false,
        required: ['name', 'clients'],
        properties: {
          name: {
            title: 'Name',
            description: 'The fence’s name, unique among fences; shown in diagnostics and decisions.',
            type: 'string',
            minLength: 1,
          },
          clients: {
            title: 'Clients',
            description: "Whose participants the fence binds, by country: codes or groups, '*' for everyone, '!CC' or '!group' to exclude.",
            type: 'array',
            minItems: 1,
            items: { $ref: '#/$defs/fenceClient' },
          },
          allow: {
            title: 'Allow',
            description: 'The only jurisdictions the clients may use: country codes or groups.',
            type: 'array',
            minItems: 1,
            items: { $ref: '#/$defs/countryOrGroup' },
          },
          deny: {
            title: 'Deny',
            description: 'Jurisdictions the clients must never use: country codes or groups.',
            type: 'array',
            minItems: 1,
            items: { $ref: '#/$defs/countryOrGroup' },
          },
          transit: {
            title: 'Transit',
            description:
              "Whether the clients' end-to-end encrypted media may transit a bridge outside the fence, as ciphertext, when a meeting's participants are split across bridges: `never` (the default) or `e2ee`. Never lets them connect to such a bridge.",
            type: 'string',
            enum: ['never', 'e2ee'],
            default: 'never',
          },
        },
        oneOf: [
          { title: 'Allow fence', description: 'A fence with `allow` (and no `deny`).', required: ['allow'] },
          { title: 'Deny fence', description: 'A fence with `deny` (and no `allow`).', required: ['deny'] },
        ],
      },
    },
    plans: {
      title: 'Plans',
      description: 'Plans, by id: a plan restricts its participants to datacenters carrying all its tags.',
      type: 'object',
      propertyNames: { $ref: '#/$defs/id' },
      additionalProperties: {
        title: 'Plan',
        description: 'A plan restricts its participants to datacenters carrying all its tags.',
        type: 'object',
        additionalProperties: false,
        required: ['tags'],
        properties: {
          tags: {
            title: 'Tags',
            description: 'Only datacenters carrying all these tags serve the plan (at least one tag).',
            type: 'array',
            minItems: 1,
            items: { $ref: '#/$defs/tag' },
          },
          exclusive: {
            title: 'Exclusive',
            description: 'When true, datacenters carrying all the tags serve nobody else.',
            type: 'boolean',
            default: false,
          },
        },
      },
    },
    selection: {
      title: 'Selection',
      description: 'Tunables of the selection engine; an absent field takes its default.',
      type: 'object',
      additionalProperties: false,
      properties: {
        secondaries: {
          title: 'Secondaries offered',
          description: 'Backups offered to a client, 0 to 16.',
          type: 'integer',
          minimum: 0,
          maximum: 16,
          default: DEFAULT_SELECTION.secondaries,
        },
        primaryAttempts: {
          title: 'Attempts per primary',
          description: 'Tries per primary before moving on, 1 to 10.',
          type: 'integer',
          minimum: 1,
          maximum: 10,
          default: DEFAULT_SELECTION.primaryAttempts,
        },
        attemptTimeoutMs: {
          title: 'Attempt timeout (ms)',
          description: 'Milliseconds before one connection attempt counts as failed, 1 to 60000.',
          type: 'integer',
          minimum: 1,
          maximum: 60_000,
          default: DEFAULT_SELECTION.attemptTimeoutMs,
        },
        maxUtilization: {
          title: 'Maximum utilization',
          description: 'A datacenter at or above this share of its capacity is skipped; above 0, at most 1.',
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 1,
          default: DEFAULT_SELECTION.maxUtilization,
        },
      },
    },
  },
  $defs: {
    location: {
      title: 'Location',
      description: 'A point on Earth in degrees.',
      type: 'object',
      additionalProperties: false,
      required: ['lat', 'lon'],
      properties: {
        lat: { title: 'Latitude', description: 'Degrees north, -90 to 90.', type: 'number', minimum: -90, maximum: 90 },
        lon: { title: 'Longitude', description: 'Degrees east, -180 to 180.', type: 'number', minimum: -180, maximum: 180 },
      },
    },
    id: {
      title: 'Id',
      description: "Starts with a letter, then letters, digits, '-', '_' or '.'; 64 characters at most.",
      type: 'string',
      pattern: ID,
    },
    datacenterId: {
      title: 'Datacenter id',
      description: 'The id of a datacenter defined under `datacenters`.',
      type: 'string',
      pattern: ID,
    },
    tag: {
      title: 'Tag',
      description: "Starts with a letter or digit, then letters, digits, '-', '_' or '.'; 64 characters at most.",
      type: 'string',
      pattern: TAG,
    },
    iceServer: {
      title: 'STUN/TURN server',
      description: 'One server: its URLs and where it relays (or answers, for STUN).',
      type: 'object',
      additionalProperties: false,
      required: ['urls'],
      properties: {
        urls: {
          title: 'URLs',
          description: 'stun:, stuns:, turn: or turns: URLs of the server (RFC 7064, RFC 7065), e.g. turn:turn.example.com:3478.',
          type: 'array',
          minItems: 1,
          maxItems: ICE_URLS_PER_SERVER_MAX,
          items: { type: 'string', pattern: ICE_URL_PATTERN, maxLength: ICE_URL_MAX_LENGTH },
        },
        jurisdiction: {
          title: 'Jurisdiction',
          description: "ISO 3166-1 alpha-2 code of the country where the server relays (or answers); the datacenter's own when absent.",
          $ref: '#/$defs/countryCode',
        },
      },
    },
    countryCode: {
      title: 'Country code',
      description: 'An ISO 3166-1 alpha-2 code in upper case, e.g. DE or US.',
      type: 'string',
      pattern: `^${CODE}$`,
    },
    groupName: {
      title: 'Group name',
      description: "An id that is not two letters: starts with a letter, then letters, digits, '-', '_' or '.'; 64 characters at most.",
      type: 'string',
      pattern: `^${GROUP}$`,
    },
    countryOrGroup: {
      title: 'Country code or group',
      description: 'An upper-case ISO 3166-1 alpha-2 code, or the name of a group defined under `groups`.',
      type: 'string',
      pattern: `^(${CODE}|${GROUP})$`,
    },
    zoneCountry: {
      title: 'Zone country',
      description: "A country code, a group name, or '*' for every country no other zone names.",
      type: 'string',
      pattern: `^(\\*|${CODE}|${GROUP})$`,
    },
    fenceClient: {
      title: 'Fence client',
      description: "A country code or group name, '*' for every country, or '!' before a code or group to exclude it.",
      type: 'string',
      pattern: `^(\\*|!?(${CODE}|${GROUP}))$`,
    },
  },
} as const;
