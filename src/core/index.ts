// The pure core of geobridge: manifest model, parser, verifier, exposure diff and the one decider.
export * from './errors.js';
export * from './diagnostics.js';
export * from './manifest/types.js';
export * from './manifest/parse.js';
export * from './manifest/print.js';
export * from './geo/countries.js';
export * from './geo/distance.js';
export * from './policy/compile.js';
export * from './select/select.js';
export * from './select/store.js';
export * from './select/meeting-policy.js';
export * from './verify/check.js';
export * from './verify/location.js';
export * from './verify/format.js';
export * from './verify/diff.js';
export * from './connection/index.js';
export * from './ice/index.js';
