// A call with camera and end-to-end encryption, using only the public SDK (docs/sdk.md).
import { connect, type BrowserRoom } from 'geobridge/sdk';

const status = document.querySelector('#status') as HTMLElement;
const videos = document.querySelector('#videos') as HTMLElement;
const invite = new URLSearchParams(location.hash.slice(1)).get('invite');
const query = new URLSearchParams(location.search);
const country = query.get('country'); // dev-mode brokers only: "join as if from"

function show(id: string, track: MediaStreamTrack): void {
  const media = document.createElement(track.kind === 'audio' ? 'audio' : 'video');
  Object.assign(media, { id, autoplay: true, muted: id === 'self', playsInline: true, srcObject: new MediaStream([track]) });
  videos.append(media);
}

async function main(): Promise<BrowserRoom | undefined> {
  if (invite === null) return undefined;
  status.textContent = 'Joining…';
  // Camera and microphone by default; E2EE by default (SFrame keys from the meeting's MLS group).
  const room = await connect({ broker: location.origin, invite, name: query.get('name') ?? 'Guest', ...(country !== null ? { country } : {}) });
  const camera = room.localTracks.camera;
  if (camera) show('self', camera);
  room.on('track-added', (e) => {
    show(`${e.participant}-${e.source}`, e.track);
  });
  room.on('track-removed', (e) => document.getElementById(`${e.participant}-${e.source}`)?.remove());
  room.on('e2ee', (e) => {
    (document.querySelector('#code') as HTMLElement).textContent = `Security code: ${e.securityCode}`;
  });
  room.on('state', ({ state }) => {
    status.textContent = `${state.connection}${state.datacenter !== undefined ? ` on ${state.datacenter} (${state.jurisdiction ?? ''})` : ''}, keys ${state.keys}`;
  });
  room.on('refused', (e) => (status.textContent = `Refused: ${e.code}: ${e.message}`));
  return room;
}

main()
  .then((room) => Object.assign(window, { room }))
  .catch((error: unknown) => {
    status.textContent = `Could not join: ${error instanceof Error ? error.message : String(error)}`;
  });
