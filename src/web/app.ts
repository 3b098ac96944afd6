/**
 * The meeting page: read the invite from the URL fragment (it never reaches
 * a server log), show the meeting and a camera preview, exchange the invite
 * and a name for a join token, then join a `Room` of the public SDK
 * (src/sdk/index.ts, the only part of the SDK this page uses) and render the
 * call, with the security code and the encryption group's roster. Each
 * piece of the call view is its own module, fed the room's events.
 * `window.geobridge` exposes the page's state, its event log and the
 * media statistics, for tests and for support.
 */
import { ALL_COUNTRY_CODES, BrokerClient, BrokerError, countryName, createRoom, isGeobridgeError, type BrokerInfo, type BrowserRoom, type E2eeStats, type RoomEvent, type RoomState } from '../sdk/index.js';
import { SpeakerDetector } from './active-speaker.js';
import { wireCopyInvite } from './copy-invite.js';
import { E2eePanel, type E2eeStatus } from './e2ee-panel.js';
import { e2eeWanted } from './e2ee-switch.js';
import { joinAgainCanHelp } from './final-codes.js';
import { Grid } from './grid.js';
import { LobbyMedia } from './lobby-media.js';
import { jurisdictionLabel, refusalText } from './messages.js';
import { ParticipantList, type UnreachableRow } from './participants.js';
import { RosterView } from './roster-view.js';
import { ScreenShare } from './screen-share.js';
import { ChatView } from './chat-view.js';
import { wirePanel } from './side-panel.js';
import { wireRoutingReceipt } from './routing-receipt.js';

type Phase = 'loading' | 'lobby' | 'connecting' | 'connected' | 'reconnecting' | 'refused' | 'failed' | 'left';

/** What the page shows, as tests read it. */
interface PageState {
  phase: Phase;
  /** The SDK's call state: routing, keys and media separately; the badge is green only when all three are well (RoomState.healthy). */
  call?: { readonly routing: string; readonly keys: RoomState['keys']; readonly media: RoomState['media']; readonly healthy: boolean; readonly datacenter?: string };
  meeting?: { readonly id: string; readonly title: string };
  connected?: { readonly datacenter: string; readonly jurisdiction: string; readonly role: 'primary' | 'secondary'; readonly attempts: number };
  refusal?: { readonly code: string; readonly message: string; readonly text: string };
  /** The meeting's end-to-end encryption as this page has it: the MLS epoch and its security code. */
  e2ee?: { readonly epoch: number; readonly securityCode: string; readonly members: number } | { readonly error: string };
  /** The encryption group's members as the page shows them, with the warnings for those no participant accounts for. */
  roster?: {
    readonly epoch: number;
    readonly members: readonly { readonly name: string; readonly participant: string; readonly self: boolean; readonly left: boolean; readonly keyFingerprint: string; readonly flags: readonly string[] }[];
    readonly joining: readonly string[];
    readonly warnings: readonly string[];
  };
  /** This page is sharing its screen. */
  screenSharing?: boolean;
  /** The chat messages shown, in order (ours with `self`); senders named by their credentials in the encryption group. */
  chat: { readonly from: string; readonly name: string; readonly text: string; readonly self: boolean }[];
  /** Everyone in the meeting as the participant list shows them, ourselves first; `inGroup` follows the roster. */
  participants?: readonly { readonly id: string; readonly name: string; readonly audio: boolean; readonly video: boolean; readonly inGroup: boolean }[];
  /** In a cascaded meeting: who we cannot exchange media with, and why (the list's extra rows). */
  unreachable?: readonly UnreachableRow[];
  /** The participant whose tile is highlighted as speaking. */
  activeSpeaker?: string;
}

/** One inbound RTP stream's counters. */
interface InboundStats {
  readonly kind: string;
  readonly packetsReceived: number;
  readonly framesDecoded: number;
  readonly bytesReceived: number;
  /** Keyframe requests this receiver sent: a climbing count with no frames decoded means the sender never hears them. */
  readonly pliCount: number;
  /** The negotiated codec, e.g. 'audio/opus' ('' before the first packet): E2EE handles Opus and VP8 only, and no RED. */
  readonly mimeType: string;
  /** The receiver's track id, to tell a screen's stream from a camera's (the tile's video plays that track). */
  readonly trackIdentifier: string;
}

declare global {
  interface Window {
    geobridge: { readonly state: PageState; readonly events: Record<string, unknown>[]; stats(): Promise<InboundStats[]>; e2eeStats(): Promise<E2eeStats | undefined> };
  }
}

const state: PageState = { phase: 'loading', chat: [] };
const events: Record<string, unknown>[] = [];
/** The call, once joined: the SDK's room (its connections, SFrame workers and MLS group are its own). */
let room: BrowserRoom | undefined;
/** The call's screen share, stopped with the rest of our media. */
let screenShare: ScreenShare | undefined;
/** The page's Content-Security-Policy allows workers from its own origin only: the broker serves the SDK's SFrame worker there. */
const E2EE_WORKER = '/e2ee-worker.js';

window.geobridge = {
  state,
  events,
  stats: async () => {
    const report = await room?.getStats();
    if (!report) return [];
    const out: InboundStats[] = [];
    report.forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp') return;
      const codec = typeof s.codecId === 'string' ? (report.get(s.codecId) as { mimeType?: unknown } | undefined) : undefined;
      out.push({
        kind: String(s.kind),
        packetsReceived: Number(s.packetsReceived ?? 0),
        framesDecoded: Number(s.framesDecoded ?? 0),
        bytesReceived: Number(s.bytesReceived ?? 0),
        pliCount: Number(s.pliCount ?? 0),
        mimeType: typeof codec?.mimeType === 'string' ? codec.mimeType : '',
        trackIdentifier: typeof s.trackIdentifier === 'string' ? s.trackIdentifier : '',
      });
    });
    return out;
  },
  e2eeStats: async () => room?.e2eeStats(),
};

/** The element `#id` of the page, checked to be a `type`. */
function byId<T extends HTMLElement>(id: string, type: abstract new () => T): T;
function byId(id: string): HTMLElement;
function byId(id: string, type: abstract new () => HTMLElement = HTMLElement): HTMLElement {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`the page has no #${id} of the expected kind`);
  return e;
}

function show(screen: 'lobby' | 'call' | 'notice'): void {
  for (const id of ['lobby', 'call', 'notice']) byId(id).hidden = id !== screen;
}

/** Ends the page's call and explains why, in words (messages.ts). */
function showNotice(title: string, text: string, code?: string, retry = false): void {
  byId('notice-title').textContent = title;
  byId('notice-text').textContent = text;
  byId('notice-code').textContent = code === undefined ? '' : `Code: ${code}`;
  const again = byId('notice-retry', HTMLButtonElement);
  again.hidden = !retry;
  again.onclick = () => {
    location.reload();
  };
  show('notice');
}

function refuse(code: string, message: string, info: BrokerInfo | undefined, phase: 'refused' | 'failed' = 'refused'): void {
  const text = refusalText(code, message, info?.datacenters ?? []);
  state.phase = phase;
  state.refusal = { code, message, text };
  events.push({ type: 'page-refused', code, message, at: Math.round(performance.now()) });
  // No "Join again" where a reload cannot succeed (final-codes.ts).
  showNotice(phase === 'refused' ? 'You cannot join this meeting' : 'The call could not connect', text, code, joinAgainCanHelp(code, info?.dev ?? false));
}

function inviteFromUrl(): string | undefined {
  const value = new URLSearchParams(location.hash.slice(1)).get('invite');
  return value === null || value === '' ? undefined : value;
}

function fillCountries(select: HTMLSelectElement, info: BrokerInfo): void {
  const options = ALL_COUNTRY_CODES.map((code) => ({ code, name: countryName(code) ?? code })).sort((a, b) => a.name.localeCompare(b.name) || a.code.localeCompare(b.code));
  for (const { code, name } of options) select.add(new Option(`${name} (${code})`, code));
  const region = navigator.language.split('-')[1]?.toUpperCase();
  const fallback = info.datacenters[0]?.jurisdiction ?? 'US';
  select.value = region !== undefined && ALL_COUNTRY_CODES.includes(region) ? region : fallback;
}

/** Frames that fail to decrypt are dropped, never shown as garbage; say how many, so a broken key is visible. */
function watchUndecryptable(): void {
  const note = byId('e2ee-drops');
  setInterval(() => {
    void room?.e2eeStats().then((stats) => {
      if (!stats) return;
      const dropped = stats.dropped.authFailed + stats.dropped.unknownKid + stats.dropped.badHeader + stats.dropped.malformed;
      note.hidden = dropped === 0;
      note.textContent = `${dropped} media ${dropped === 1 ? 'frame' : 'frames'} could not be decrypted and ${dropped === 1 ? 'was' : 'were'} dropped`;
    });
  }, 2000);
}

/** The lock in the call bar and its panel: call `e2eePanel.show(...)` with each new encryption state. */
const e2eePanel = new E2eePanel({
  button: byId('e2ee-button', HTMLButtonElement),
  label: byId('e2ee-label'),
  headline: byId('e2ee-headline'),
  message: byId('e2ee'),
  code: byId('security-code'),
  codeHelp: byId('security-code-help'),
});

/** The encryption state in the lock's panel: `text` is its detail sentence (#e2ee), `securityCode` is shown large while 'on'. */
function showE2ee(text: string, status: E2eeStatus, securityCode?: string): void {
  e2eePanel.show({ status, message: text, ...(securityCode !== undefined ? { securityCode } : {}) });
}

/** Marks the tile of the active speaker (every tile of that participant). */
function highlightSpeaker(container: HTMLElement, id: string | undefined): void {
  for (const tile of container.querySelectorAll<HTMLElement>('.tile')) tile.classList.toggle('speaking', id !== undefined && tile.dataset.peer === id);
}

function badge(text: string, phase: 'connecting' | 'connected' | 'reconnecting'): void {
  const el = byId('badge');
  el.dataset.state = phase;
  byId('badge-text').textContent = text;
}

/** The badge from the SDK's call state: green only when connected, keys agreed and remote media decoding. */
function renderBadge(): void {
  const call = state.call;
  const where = state.connected;
  if (!call || !where || call.routing !== 'connected') return;
  const route = `${where.datacenter} · ${jurisdictionLabel(where.jurisdiction)} · ${where.role} · ${where.attempts} ${where.attempts === 1 ? 'attempt' : 'attempts'}`;
  if (call.healthy) badge(call.media === 'none' ? `${route} · nobody else here yet` : route, 'connected');
  else if (call.keys === 'agreeing') badge(`${where.datacenter} · agreeing on end-to-end keys…`, 'connecting');
  else badge(`${where.datacenter} · waiting for media…`, 'connecting');
}

/** Runs the call: the room's events drive the grid, the badge and the notices. */
function startCall(options: { token: string; participant: string; name: string; country: string | undefined; stream: MediaStream; info: BrokerInfo; title: string }): void {
  // Dev brokers only (e2ee-switch.ts): `?e2ee=off` joins without E2EE, for benchmarks.
  const e2ee = e2eeWanted(new URLSearchParams(location.search), options.info.dev);
  let call: BrowserRoom;
  try {
    call = createRoom({
      broker: location.origin,
      token: options.token,
      ...(options.country !== undefined ? { country: options.country } : {}),
      e2ee,
      // The lobby's choice: its tracks, or none (the page owns them and stops them on leave).
      camera: options.stream.getVideoTracks()[0] ?? false,
      microphone: options.stream.getAudioTracks()[0] ?? false,
      e2eeWorker: E2EE_WORKER,
    });
  } catch (error) {
    // E2EE_UNSUPPORTED: joining without encoded transforms would send media the bridges could read.
    stopMedia(options.stream);
    if (isGeobridgeError(error)) refuse(error.code, error.message, options.info, 'failed');
    else throw error;
    return;
  }
  room = call;
  const grid = new Grid(byId('grid'), byId('audio-sinks'));
  const roster = new RosterView(byId('roster'), byId('roster-title'), byId('roster-alert'), byId('roster-list'));
  const clearRoster = (): void => {
    roster.clear();
    delete state.roster;
  };
  const chat = new ChatView(
    { panel: byId('chat'), toggle: byId('chat-toggle', HTMLButtonElement), unread: byId('chat-unread'), list: byId('chat-list'), form: byId('chat-form', HTMLFormElement), input: byId('chat-input', HTMLTextAreaElement), status: byId('chat-status'), close: byId('chat-close', HTMLButtonElement) },
    (text) => call.sendChat(text),
  );
  const people = new ParticipantList(byId('people-list'), byId('people-count'), (rows, unreachable) => {
    state.participants = rows.map(({ id, name, audio, video, inGroup }) => ({ id, name, audio, video, inGroup }));
    state.unreachable = unreachable;
  });
  people.setE2ee(e2ee);
  const speaker = new SpeakerDetector(() => call.getStats(), (id) => {
    if (id === undefined) delete state.activeSpeaker;
    else state.activeSpeaker = id;
    highlightSpeaker(byId('grid'), id);
  });
  wirePanel(byId('e2ee-button', HTMLButtonElement), byId('e2ee-panel'));
  wirePanel(byId('people', HTMLButtonElement), byId('people-panel'));
  wireCopyInvite(byId('copy-invite', HTMLButtonElement), byId('invite-field', HTMLInputElement), byId('invite-status'));
  grid.showSelf(options.name, options.stream);
  byId('call-title').textContent = options.title;
  show('call');
  state.phase = 'connecting';
  badge('Connecting…', 'connecting');

  call.on('*', (e: RoomEvent<MediaStreamTrack>): void => {
    events.push(logged(e, Math.round(performance.now())));
    people.handle(e);
    speaker.handle(e);
    switch (e.type) {
      case 'state': {
        const { connection, keys, media, healthy, datacenter } = e.state;
        state.call = { routing: connection === 'routing' ? 'connecting' : connection, keys, media, healthy, ...(datacenter !== undefined ? { datacenter } : {}) };
        renderBadge();
        return;
      }
      case 'connected':
        state.phase = 'connected';
        state.connected = { datacenter: e.datacenter, jurisdiction: e.jurisdiction, role: e.role, attempts: e.attempts };
        // A new connection: a new group to agree on (or the carried one to go on in).
        if (e2ee) {
          clearRoster();
          showE2ee('Agreeing on end-to-end encryption keys…', 'pending');
        } else showE2ee('Not end-to-end encrypted (dev switch)', 'off');
        renderBadge();
        return;
      case 'reconnecting':
        state.phase = 'reconnecting';
        grid.clearRemote();
        clearRoster();
        badge(`Reconnecting… (lost ${e.datacenter})`, 'reconnecting');
        return;
      case 'participant-joined':
      case 'participant-updated':
        grid.upsert(e.participant);
        return;
      case 'participant-left':
        grid.remove(e.id);
        return;
      case 'track-added':
        if (e.source === 'screen') grid.showScreen(e.participant, e.track);
        else grid.setTrack(e.participant, e.kind, e.track);
        return;
      case 'refused':
      case 'failed':
        stopMedia(options.stream);
        refuse(e.code, e.message, options.info, e.type);
        return;
      case 'e2ee':
        // The SDK has installed the epoch's keys in the connection's SFrame worker.
        state.e2ee = { epoch: Number(e.epoch), securityCode: e.securityCode, members: e.members.length };
        showE2ee(`End-to-end encrypted · security code ${e.securityCode} · compare it aloud with the others, and check who is in the group`, 'on', e.securityCode);
        return;
      case 'roster': {
        const warnings = roster.show(e);
        state.roster = {
          epoch: Number(e.epoch),
          members: e.members.map(({ name, participant, self, left, keyFingerprint, flags }) => ({ name, participant, self, left, keyFingerprint, flags })),
          joining: e.joining.map((a) => a.name),
          warnings,
        };
        return;
      }
      case 'e2ee-error':
        // Someone else's key package refused: our group and keys are as they were.
        if (e.code === 'MLS_CREDENTIAL_REJECTED' && state.e2ee !== undefined && 'securityCode' in state.e2ee) {
          showE2ee(`End-to-end encrypted · security code ${state.e2ee.securityCode} · a key that was not its sender's own was refused, not added (${e.message})`, 'on', state.e2ee.securityCode);
          return;
        }
        state.e2ee = { error: e.message };
        showE2ee(`Encryption keys could not be agreed; media stays encrypted and may not play (${e.message})`, 'error');
        return;
      case 'chat':
        chat.add(e);
        state.chat.push({ from: e.from, name: e.name, text: e.text, self: e.self });
        return;
      case 'chat-undelivered':
        chat.undelivered(e.reason);
        return;
      case 'chat-unreadable':
        chat.unreadable();
        return;
      case 'track-removed':
        if (e.source === 'screen') grid.removeScreen(e.participant);
        return;
      case 'route':
      case 'bridge-refused':
      case 'ice-server-refused':
      case 'notice':
        // Kept in the event timeline; the grid follows participants, and the SDK handles refusals.
        return;
    }
  });
  wireControls(call, grid, options.stream, {
    onLocalMedia: (audio, video) => {
      people.setSelf({ id: options.participant, name: options.name, audio, video });
    },
    onLeave: () => {
      speaker.close();
    },
  });
  wireScreenShare(call, grid);
  wireRoutingReceipt({
    container: byId('e2ee-panel'),
    meeting: state.meeting?.id ?? 'meeting',
    build: () => call.routingReceipt({ meeting: state.meeting?.id ?? 'meeting' }),
    onOutcome: (outcome) => events.push({ type: 'routing-receipt', ...outcome, at: Math.round(performance.now()) }),
  });
  watchUndecryptable();
  // Refusals and failures come as events too (above): the promise has nothing more to say.
  call.join().catch(() => undefined);
}

/** An event as the page's timeline keeps it: tracks and keys are not serialisable (nor to be logged); `at` is ms since the page loaded. */
function logged(e: RoomEvent<MediaStreamTrack>, at: number): Record<string, unknown> {
  switch (e.type) {
    case 'track-added':
      return { type: e.type, participant: e.participant, kind: e.kind, source: e.source, at };
    case 'route':
      return { type: e.type, decisionId: e.route.decisionId, at };
    case 'e2ee':
      return { type: e.type, epoch: Number(e.epoch), securityCode: e.securityCode, at };
    case 'roster':
      return { type: e.type, epoch: Number(e.epoch), members: e.members.length, flagged: e.members.filter((m) => m.flags.length > 0).length, joining: e.joining.length, at };
    case 'chat':
      // The timeline may be shared with support: who and when, never what.
      return { type: e.type, from: e.from, self: e.self, at };
    default:
      return { ...e, at };
  }
}

function stopMedia(stream: MediaStream): void {
  for (const t of stream.getTracks()) t.stop();
  void screenShare?.stop();
}

/** The "Share screen" toggle: our screen shows as a preview tile while it is sent. */
function wireScreenShare(call: BrowserRoom, grid: Grid): void {
  const button = byId('screen', HTMLButtonElement);
  const share = new ScreenShare(call, (track) => {
    state.screenSharing = track !== null;
    button.setAttribute('aria-pressed', String(track !== null));
    button.title = track ? 'Stop sharing your screen' : 'Share your screen';
    if (track) grid.showScreen('self', track);
    else grid.removeScreen('self');
  });
  screenShare = share;
  state.screenSharing = false;
  // getDisplayMedia is missing on phones.
  button.disabled = typeof navigator.mediaDevices.getDisplayMedia !== 'function';
  button.onclick = () => {
    share.toggle().catch((error: unknown) => {
      // Declining the browser's picker lands here too: nothing to show but the timeline entry.
      events.push({ type: 'screen-share-error', message: error instanceof Error ? error.message : String(error), at: Math.round(performance.now()) });
    });
  };
}

function wireControls(call: BrowserRoom, grid: Grid, stream: MediaStream, hooks: { onLocalMedia: (audio: boolean, video: boolean) => void; onLeave: () => void }): void {
  const mic = byId('mic', HTMLButtonElement);
  const cam = byId('cam', HTMLButtonElement);
  const audio = (): boolean => call.isOn('microphone');
  const video = (): boolean => call.isOn('camera');
  const render = (): void => {
    mic.setAttribute('aria-pressed', String(!audio()));
    mic.title = audio() ? 'Mute microphone' : 'Unmute microphone';
    cam.setAttribute('aria-pressed', String(!video()));
    cam.title = video() ? 'Turn camera off' : 'Turn camera on';
    grid.setSelfState(audio(), video());
    hooks.onLocalMedia(audio(), video());
  };
  mic.disabled = stream.getAudioTracks().length === 0;
  cam.disabled = stream.getVideoTracks().length === 0;
  mic.onclick = () => {
    call.mute('microphone', audio());
    render();
  };
  cam.onclick = () => {
    call.mute('camera', video());
    render();
  };
  byId('leave').onclick = () => {
    call.leave();
    hooks.onLeave();
    stopMedia(stream);
    state.phase = 'left';
    showNotice('You left the meeting', 'Thanks for joining.', undefined, true);
  };
  render();
}

/** The broker said no (a code to explain), as opposed to no answer at all. */
function isRefusal(error: unknown): error is BrokerError {
  return error instanceof BrokerError && error.code !== 'BROKER_UNREACHABLE';
}

async function main(): Promise<void> {
  const broker = new BrokerClient(location.origin);
  const invite = inviteFromUrl();
  if (invite === undefined) {
    showNotice('No invite in this link', 'Open the full invite link the host sent you; it ends in #invite=….');
    return;
  }
  let info: BrokerInfo | undefined;
  try {
    const [brokerInfo, meeting] = await Promise.all([broker.info(), broker.previewInvite(invite)]);
    info = brokerInfo;
    state.meeting = { id: meeting.meeting, title: meeting.title };
    byId('meeting-title').textContent = meeting.title;
    document.title = `${meeting.title} · geobridge`;
  } catch (error) {
    if (isRefusal(error)) refuse(error.code, error.message, info);
    else showNotice('The meeting service is unreachable', 'Check your connection and reload the page.', undefined, true);
    return;
  }
  const known = info;
  state.phase = 'lobby';
  show('lobby');
  const country = byId('country', HTMLSelectElement);
  if (known.dev) {
    fillCountries(country, known);
    byId('country-field').hidden = false;
  }
  const nameInput = byId('name', HTMLInputElement);
  nameInput.value = localStorage.getItem('geobridge.name') ?? '';
  const lobby = new LobbyMedia(
    { video: byId('preview', HTMLVideoElement), note: byId('preview-note'), camera: byId('camera-select', HTMLSelectElement), microphone: byId('mic-select', HTMLSelectElement), meter: byId('mic-level') },
    localStorage,
  );
  await lobby.open();
  const join = byId('join', HTMLButtonElement);
  join.disabled = false;
  const error = byId('join-error');
  byId('join-form', HTMLFormElement).onsubmit = (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (name === '') return;
    join.disabled = true;
    join.textContent = 'Joining…';
    error.hidden = true;
    localStorage.setItem('geobridge.name', name);
    broker
      .acceptInvite(invite, name)
      .then(async (accepted) => {
        // The stream chosen in the lobby goes into the call; the lobby's meter stops.
        const stream = await lobby.leave();
        startCall({ token: accepted.token, participant: accepted.participant, name, country: known.dev ? country.value : undefined, stream, info: known, title: accepted.title });
      })
      .catch((e: unknown) => {
        join.disabled = false;
        join.textContent = 'Join meeting';
        error.textContent = isRefusal(e) ? refusalText(e.code, e.message, known.datacenters) : 'The meeting service is unreachable; check your connection.';
        error.hidden = false;
      });
  };
}

void main();
