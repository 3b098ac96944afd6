// STUN/TURN servers inside the fence: the URL rules the manifest and the signalling protocol share.
export * from './rules.js';
