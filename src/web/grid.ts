/**
 * The call's participant grid: one tile per person (video, or their
 * initials when the camera is off, name and a muted mark), and one hidden
 * audio element per remote person so their voice plays whatever the layout;
 * a shared screen is a tile of its own, across the grid's full width.
 */
import type { Participant as PeerInfo } from '../sdk/index.js';

interface Tile {
  readonly root: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly name: HTMLElement;
  readonly audio?: HTMLAudioElement;
}

const SELF = 'self';
/** A screen's tile id: apart from its sharer's, so the camera stays in view. */
const screenId = (peer: string): string => `screen:${peer}`;

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  return e;
}

function screenLabel(name: string): string {
  return name === '' ? 'Shared screen' : `${name}’s screen`;
}

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter((w) => w !== '');
  return words.slice(0, 2).map((w) => w.charAt(0).toUpperCase()).join('') || '?';
}

/** The grid of participant tiles. */
export class Grid {
  readonly #container: HTMLElement;
  readonly #sinks: HTMLElement;
  readonly #tiles = new Map<string, Tile>();

  constructor(container: HTMLElement, sinks: HTMLElement) {
    this.#container = container;
    this.#sinks = sinks;
  }

  /** Our own tile: the local preview, mirrored and never played back. */
  showSelf(name: string, stream: MediaStream): void {
    const tile = this.#tile(SELF, `${name} (you)`, false);
    tile.root.classList.add('self');
    tile.video.srcObject = stream;
  }

  setSelfState(audio: boolean, video: boolean): void {
    this.#setState(SELF, audio, video);
  }

  /** Adds or refreshes a remote participant. */
  upsert(peer: PeerInfo): void {
    const tile = this.#tile(peer.id, peer.name, true);
    tile.name.textContent = peer.name;
    tile.root.querySelector('.avatar')?.replaceChildren(initials(peer.name));
    this.#setState(peer.id, peer.audio, peer.video);
    const screen = this.#tiles.get(screenId(peer.id));
    if (screen) screen.name.textContent = screenLabel(peer.name);
  }

  /** Shows a shared screen (`self` for our own, as a preview) in its own large tile, labelled with its sharer's name. */
  showScreen(peer: string, track: MediaStreamTrack): void {
    const id = screenId(peer);
    const label = peer === SELF ? 'Your screen' : screenLabel(this.#tiles.get(peer)?.name.textContent ?? '');
    const tile = this.#tile(id, label, false);
    tile.root.classList.add('screen');
    tile.root.dataset.screen = peer;
    tile.name.textContent = label;
    tile.video.srcObject = new MediaStream([track]);
    void tile.video.play().catch(() => undefined);
  }

  /** Removes a screen's tile (the share stopped). */
  removeScreen(peer: string): void {
    this.remove(screenId(peer));
  }

  /** Plays a remote track in its participant's tile (a reconnect replaces the old one). */
  setTrack(peer: string, kind: 'audio' | 'video', track: MediaStreamTrack): void {
    const tile = this.#tile(peer, '', true);
    const sink = kind === 'video' ? tile.video : tile.audio;
    if (!sink) return;
    sink.srcObject = new MediaStream([track]);
    void sink.play().catch(() => undefined);
  }

  remove(id: string): void {
    const tile = this.#tiles.get(id);
    if (!tile) return;
    tile.root.remove();
    tile.audio?.remove();
    this.#tiles.delete(id);
    if (this.#tiles.has(screenId(id))) this.remove(screenId(id));
    this.#layout();
  }

  /** Removes every remote participant and screen (the bridge re-announces them after a reconnect); our own screen stays. */
  clearRemote(): void {
    for (const id of [...this.#tiles.keys()]) if (id !== SELF && id !== screenId(SELF)) this.remove(id);
  }

  #setState(id: string, audio: boolean, video: boolean): void {
    const tile = this.#tiles.get(id);
    if (!tile) return;
    tile.root.classList.toggle('muted', !audio);
    tile.root.classList.toggle('camera-off', !video);
  }

  #tile(id: string, name: string, remote: boolean): Tile {
    const existing = this.#tiles.get(id);
    if (existing) return existing;
    const root = element('figure', 'tile');
    root.dataset.peer = id;
    const video = element('video', 'tile-video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // Voices play through the audio elements.
    const avatar = element('div', 'avatar');
    avatar.textContent = initials(name);
    const caption = element('figcaption', 'tile-label');
    const mic = element('span', 'mic-off');
    mic.title = 'Microphone off';
    const label = element('span', 'tile-name');
    label.textContent = name;
    caption.append(mic, label);
    root.append(video, avatar, caption);
    this.#container.append(root);
    let audio: HTMLAudioElement | undefined;
    if (remote) {
      audio = element('audio', 'sink');
      audio.autoplay = true;
      audio.dataset.peer = id;
      this.#sinks.append(audio);
    }
    const tile: Tile = { root, video, name: label, ...(audio ? { audio } : {}) };
    this.#tiles.set(id, tile);
    this.#layout();
    return tile;
  }

  /** Columns for a roughly square grid of people (screens span every column). */
  #layout(): void {
    const n = Math.max(1, [...this.#tiles.keys()].filter((id) => !id.startsWith('screen:')).length);
    this.#container.style.setProperty('--cols', String(Math.ceil(Math.sqrt(n))));
  }
}
