// STUN/TURN servers inside the fence: the URL rules and the runtime rule the broker, bridge and SDK share.
export * from './rules.js';
export * from './allowed.js';
