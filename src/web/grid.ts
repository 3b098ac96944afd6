/**
 * The call's participant grid: one tile per person (video, or their
 * initials when the camera is off, name and a muted mark), and one hidden
 * audio element per remote person so their voice plays whatever the layout.
 */
import type { PeerInfo } from '../core/signalling/protocol.js';

interface Tile {
  readonly root: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly name: HTMLElement;
  readonly audio?: HTMLAudioElement;
}

const SELF = 'self';

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  return e;
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
    this.#layout();
  }

  /** Removes every remote participant (the bridge re-announces them after a reconnect). */
  clearRemote(): void {
    for (const id of [...this.#tiles.keys()]) if (id !== SELF) this.remove(id);
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

  /** Columns for a roughly square grid. */
  #layout(): void {
    const n = Math.max(1, this.#tiles.size);
    this.#container.style.setProperty('--cols', String(Math.ceil(Math.sqrt(n))));
  }
}
