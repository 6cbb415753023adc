/**
 * Builds PNG files byte by byte for what the pngjs encoder cannot write: palettes, fewer than
 * 8 bits per sample, and tRNS. A file is the signature, IHDR, optional PLTE and tRNS, one
 * zlib-compressed IDAT of unfiltered rows, and IEND.
 */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG chunks use it (ISO 3309, reflected polynomial 0xedb88320). */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export interface RawPng {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: number;
  bitDepth: number;
  /** Samples (palette indices for colour type 3), row-major, one number per sample. */
  samples: number[];
  /** RGB triples for colour type 3. */
  palette?: [number, number, number][];
  /** Raw tRNS chunk contents. */
  transparency?: Uint8Array;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Encodes `image` as a PNG file, packing samples of fewer than 8 bits most significant bit first. */
export function encodeRawPng(image: RawPng): Buffer {
  const { width, height, colorType, bitDepth, samples } = image;
  const perRow = width * CHANNELS[colorType];
  const rowBytes = Math.ceil((perRow * bitDepth) / 8);
  const raw = Buffer.alloc(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const rowStart = y * (rowBytes + 1) + 1; // byte 0 of each row is filter type 0 (none)
    for (let s = 0; s < perRow; s++) {
      const value = samples[y * perRow + s];
      if (bitDepth === 16) {
        raw.writeUInt16BE(value, rowStart + 2 * s);
      } else if (bitDepth === 8) {
        raw[rowStart + s] = value;
      } else {
        const bit = s * bitDepth;
        raw[rowStart + (bit >> 3)] |= value << (8 - bitDepth - (bit & 7));
      }
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = bitDepth;
  header[9] = colorType;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header)];
  if (image.palette !== undefined) parts.push(chunk('PLTE', Uint8Array.from(image.palette.flat())));
  if (image.transparency !== undefined) parts.push(chunk('tRNS', image.transparency));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}
