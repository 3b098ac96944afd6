// The client's connection state machine: a pure reducer the SDK's shell drives (docs/client.md).
export * from './types.js';
export * from './retry.js';
export * from './route-check.js';
export * from './machine.js';
