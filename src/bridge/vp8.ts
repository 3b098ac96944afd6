/**
 * Just enough of the VP8 RTP payload (RFC 7741) for a bridge to see where a
 * frame starts and whether it is a key frame. Both are in the clear under
 * E2EE: the payload descriptor is RTP's, and the first byte of the frame is
 * in the clear prefix the SFrame transform leaves (src/sdk/sframe-transform.ts).
 */

/**
 * The frame bytes of a packet that starts partition 0 of a frame (S = 1,
 * PID = 0), after the payload descriptor of RFC 7741 §4.2; undefined for any
 * other packet, or one too short to hold its descriptor.
 */
export function vp8FrameStart(payload: Uint8Array): Uint8Array | undefined {
  const first = payload[0];
  if (first === undefined || (first & 0x10) === 0 || (first & 0x07) !== 0) return undefined;
  let offset = 1;
  if (first & 0x80) {
    const extension = payload[offset++] ?? 0;
    if (extension & 0x80) offset += (payload[offset] ?? 0) & 0x80 ? 2 : 1; // PictureID, 7 or 15 bits
    if (extension & 0x40) offset += 1; // TL0PICIDX
    if (extension & 0x30) offset += 1; // TID, Y, KEYIDX
  }
  return offset < payload.length ? payload.subarray(offset) : undefined;
}

/** Whether the packet starts a VP8 key frame: bit 0 of the frame tag (P, "inverse key frame") is 0 (RFC 6386 §9.1). */
export function startsVp8KeyFrame(payload: Uint8Array): boolean {
  const frame = vp8FrameStart(payload);
  return frame !== undefined && ((frame[0] ?? 1) & 0x01) === 0;
}
