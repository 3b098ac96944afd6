// MLS group keys for meetings (RFC 9420 via ts-mls) feeding SFrame (RFC 9605 §5.2); see docs/e2ee.md.
export * from './identity.js';
export * from './group.js';
export * from './kid.js';
export * from './security-code.js';
export * from './delivery.js';
export * from './roster.js';
export * from './application.js';
export * from './chat.js';
