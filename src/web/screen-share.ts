/**
 * The page's screen share: asks the browser for a screen (getDisplayMedia),
 * hands its track to the room, which sends it end-to-end encrypted like
 * the camera, and stops it when the user does — with our button, or with
 * the browser's own "Stop sharing" (the track's 'ended' event).
 */
import type { BrowserRoom } from '../sdk/index.js';

/** What the page does when the share starts or stops. */
export type ScreenShareListener = (track: MediaStreamTrack | null) => void;

/** One page's screen share. */
export class ScreenShare {
  readonly #room: BrowserRoom;
  readonly #onChange: ScreenShareListener;
  #track: MediaStreamTrack | null = null;

  constructor(room: BrowserRoom, onChange: ScreenShareListener) {
    this.#room = room;
    this.#onChange = onChange;
  }

  get sharing(): boolean {
    return this.#track !== null;
  }

  /** Starts sharing if not, stops if so. Rejects when the user declines or the browser cannot capture. */
  async toggle(): Promise<void> {
    if (this.#track) {
      await this.stop();
      return;
    }
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error('the browser gave a screen capture without video');
    await this.start(track);
  }

  /** Shares `track` (replacing any screen shared before). */
  async start(track: MediaStreamTrack): Promise<void> {
    if (this.#track === track) return;
    this.#release();
    // Text and lines stay sharp at the cost of frame rate: what a screen needs.
    track.contentHint = 'detail';
    this.#track = track;
    track.addEventListener('ended', this.#ended);
    this.#onChange(track);
    await this.#room.publishScreen(track);
  }

  /** Stops sharing (idempotent). */
  async stop(): Promise<void> {
    if (!this.#track) return;
    this.#release();
    this.#onChange(null);
    await this.#room.unpublishScreen();
  }

  /** The user stopped it in the browser's own UI. */
  readonly #ended = (): void => {
    void this.stop();
  };

  #release(): void {
    const track = this.#track;
    if (!track) return;
    this.#track = null;
    track.removeEventListener('ended', this.#ended);
    track.stop();
  }
}
