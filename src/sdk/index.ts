/**
 * `geobridge/sdk`: the SDK for browsers. Join a meeting with `connect` (or
 * `createRoom`, then `join()`), listen to the room's typed events, publish a
 * camera, microphone and screen, chat, and keep the routing receipt. Media
 * is end-to-end encrypted unless `e2ee: false`. Reference: docs/sdk.md.
 */
export { connect, createRoom, BrowserRoom, type BrowserRoomOptions } from './browser-room.js';
export { Room, type RoomOptions, type RoomState, type RoomEvent, type RoomEventType, type RoomEventOf, type Participant, type TrackSource, type E2eeState, type UnreachablePeer } from './room.js';
export { BrokerClient, BrokerError, isBrokerError, type BrokerInfo, type InviteAcceptance, type InvitePreview, type RouteAnswerBody, type TreeHead, type CallOptions } from './broker-client.js';
export { GeobridgeError, isGeobridgeError } from '../core/errors.js';
export { receiptFileName, type RouteReceipt, type RoutingReceiptFile } from './receipts.js';
export { CHAT_TEXT_MAX, chatTextProblem } from '../mls/chat.js';
export { FINAL_BRIDGE_CODES, type ConnectionNotice } from '../core/connection/index.js';
export { ALL_COUNTRY_CODES, countryName } from '../core/geo/countries.js';
export type { ChatMessage, E2eeRoster } from './meeting-keys.js';
export type { Member, RosterEntry, RosterFlag } from '../mls/index.js';
export type { IceServerRefused } from './ice-servers.js';
export type { E2eeStats } from './sframe-peer.js';
