/**
 * `geobridge/sdk/node`: the SDK for Node programs (bots, probes, load tests)
 * on werift: the same `Room` as in browsers, with werift tracks. Reference:
 * docs/sdk.md.
 */
export { connect, createRoom, type NodeRoom, type NodeRoomOptions } from '../node-room.js';
export { Room, type RoomOptions, type RoomState, type RoomEvent, type RoomEventType, type RoomEventOf, type Participant, type TrackSource, type E2eeState, type UnreachablePeer } from '../room.js';
export { BrokerClient, BrokerError, isBrokerError, type BrokerInfo, type InviteAcceptance, type InvitePreview, type RouteAnswerBody, type TreeHead, type CallOptions } from '../broker-client.js';
export { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
export { receiptFileName, type RouteReceipt, type RoutingReceiptFile } from '../receipts.js';
export { CHAT_TEXT_MAX, chatTextProblem } from '../../mls/chat.js';
export { FINAL_BRIDGE_CODES, type ConnectionNotice } from '../../core/connection/index.js';
export type { ChatMessage, E2eeRoster } from '../meeting-keys.js';
export type { Member, RosterEntry, RosterFlag } from '../../mls/index.js';
export type { IceServerRefused } from '../ice-servers.js';
