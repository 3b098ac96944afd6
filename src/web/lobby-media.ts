/**
 * The lobby's camera and microphone: pick which ones (the browser names
 * devices only once it may use them, so the lists fill after the first
 * getUserMedia), see the preview and a live microphone level, and join
 * with the chosen stream. The choice is remembered per browser.
 */
const CAMERA_KEY = 'geobridge.camera';
const MICROPHONE_KEY = 'geobridge.microphone';

/** The lobby elements this module drives. */
export interface LobbyElements {
  readonly video: HTMLVideoElement;
  readonly note: HTMLElement;
  readonly camera: HTMLSelectElement;
  readonly microphone: HTMLSelectElement;
  /** A role="meter" element; its `--level` (0..1) sizes the bar. */
  readonly meter: HTMLElement;
}

/** The meter's 0..1 from an RMS level: -60 dBFS and below is empty, 0 dBFS is full. */
export function meterLevel(level: number): number {
  if (level <= 0) return 0;
  return Math.min(1, Math.max(0, (20 * Math.log10(level) + 60) / 60));
}

/**
 * Constraints for the chosen devices. `exact`, because Chromium may open
 * another camera for an `ideal` id that fits the resolution better; a device
 * that is gone fails, and the lobby falls back to the defaults.
 */
export function mediaConstraints(camera: string | null, microphone: string | null): MediaStreamConstraints {
  const pick = (id: string | null): { deviceId?: ConstrainDOMString } => (id === null || id === '' ? {} : { deviceId: { exact: id } });
  return { audio: { ...pick(microphone) }, video: { width: { ideal: 1280 }, height: { ideal: 720 }, ...pick(camera) } };
}

/** The preview, the device choice and the microphone meter, until `leave()`. */
export class LobbyMedia {
  readonly #el: LobbyElements;
  readonly #storage: Storage;
  #stream = new MediaStream();
  #audio: AudioContext | undefined;
  #source: MediaStreamAudioSourceNode | undefined;
  #meterTimer: ReturnType<typeof setInterval> | undefined;
  #left = false;
  /** Bumped by every reopen: a slower, older getUserMedia must not win over the latest choice. */
  #opening = 0;
  /** The latest reopen, which `leave()` waits for: the call must not get the tracks it stopped. */
  #pending: Promise<void> = Promise.resolve();
  readonly #onDeviceChange = (): void => {
    void this.#fillDevices();
  };

  constructor(elements: LobbyElements, storage: Storage) {
    this.#el = elements;
    this.#storage = storage;
  }

  /** The stream the preview shows: the one to join with. */
  get stream(): MediaStream {
    return this.#stream;
  }

  /** Opens the remembered (or default) camera and microphone, then lists the devices. */
  async open(): Promise<MediaStream> {
    this.#pending = this.#reopen();
    await this.#pending;
    await this.#fillDevices();
    navigator.mediaDevices.addEventListener('devicechange', this.#onDeviceChange);
    this.#el.camera.onchange = () => {
      this.#storage.setItem(CAMERA_KEY, this.#el.camera.value);
      this.#pending = this.#reopen();
    };
    this.#el.microphone.onchange = () => {
      this.#storage.setItem(MICROPHONE_KEY, this.#el.microphone.value);
      this.#pending = this.#reopen();
    };
    return this.#stream;
  }

  /** Leaves the lobby once a device switch under way is done: the meter and the device lists stop; the stream goes on into the call. */
  async leave(): Promise<MediaStream> {
    navigator.mediaDevices.removeEventListener('devicechange', this.#onDeviceChange);
    this.#el.camera.onchange = null;
    this.#el.microphone.onchange = null;
    await this.#pending;
    this.#left = true;
    this.#stopMeter();
    if (this.#audio) void this.#audio.close().catch(() => undefined);
    this.#audio = undefined;
    return this.#stream;
  }

  async #reopen(): Promise<void> {
    const mine = ++this.#opening;
    // Some cameras cannot be opened twice (most phones): release the old one first.
    for (const t of this.#stream.getTracks()) t.stop();
    const constraints = mediaConstraints(this.#storage.getItem(CAMERA_KEY), this.#storage.getItem(MICROPHONE_KEY));
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
      this.#el.note.hidden = true;
    } catch {
      stream = await navigator.mediaDevices.getUserMedia(mediaConstraints(null, null)).catch(() => new MediaStream());
      this.#el.note.textContent = stream.getTracks().length === 0 ? 'Camera and microphone are unavailable. You can still join to watch and listen.' : 'That device could not be opened; using the default one.';
      this.#el.note.hidden = false;
    }
    if (this.#left || mine !== this.#opening) {
      // The person picked another device while this one was opening.
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    this.#stream = stream;
    this.#el.video.srcObject = stream;
    this.#startMeter();
    this.#selectCurrent();
  }

  async #fillDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, noun: string): void => {
      const mine = devices.filter((d) => d.kind === kind && d.deviceId !== '');
      select.replaceChildren(...mine.map((d, i) => new Option(d.label === '' ? `${noun} ${i + 1}` : d.label, d.deviceId)));
      select.disabled = mine.length === 0;
      if (mine.length === 0) select.add(new Option(`No ${noun.toLowerCase()} found`, ''));
    };
    fill(this.#el.camera, 'videoinput', 'Camera');
    fill(this.#el.microphone, 'audioinput', 'Microphone');
    this.#selectCurrent();
  }

  /** Shows the devices actually open (the browser may have picked another than asked). */
  #selectCurrent(): void {
    const video = this.#stream.getVideoTracks()[0]?.getSettings().deviceId;
    const audio = this.#stream.getAudioTracks()[0]?.getSettings().deviceId;
    if (video !== undefined && [...this.#el.camera.options].some((o) => o.value === video)) this.#el.camera.value = video;
    if (audio !== undefined && [...this.#el.microphone.options].some((o) => o.value === audio)) this.#el.microphone.value = audio;
  }

  #startMeter(): void {
    this.#stopMeter();
    const track = this.#stream.getAudioTracks()[0];
    if (track === undefined) return;
    if (!this.#audio) {
      this.#audio = new AudioContext();
      resumeOnGesture(this.#audio);
    }
    this.#source = this.#audio.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.#audio.createAnalyser();
    analyser.fftSize = 1024;
    this.#source.connect(analyser);
    const buffer = new Float32Array(analyser.fftSize);
    const meter = this.#el.meter;
    this.#meterTimer = setInterval(() => {
      analyser.getFloatTimeDomainData(buffer);
      const value = meterLevel(rms(buffer));
      meter.style.setProperty('--level', value.toFixed(3));
      meter.setAttribute('aria-valuenow', String(Math.round(value * 100)));
    }, 50);
  }

  #stopMeter(): void {
    if (this.#meterTimer !== undefined) clearInterval(this.#meterTimer);
    this.#meterTimer = undefined;
    this.#source?.disconnect();
    this.#source = undefined;
    this.#el.meter.style.setProperty('--level', '0');
    this.#el.meter.setAttribute('aria-valuenow', '0');
  }
}

/** Root mean square of samples in -1..1. */
export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}

/** Browsers may start an AudioContext suspended until the page is interacted with; try at once, and again on the first gesture. */
function resumeOnGesture(context: AudioContext): void {
  const resume = (): void => {
    if (context.state === 'suspended') void context.resume().catch(() => undefined);
  };
  resume();
  for (const type of ['pointerdown', 'keydown'] as const) document.addEventListener(type, resume, { once: true, capture: true });
}
