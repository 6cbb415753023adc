/**
 * PNG decoding to a grayscale image in [0, 1], through pngjs. Every PNG colour type and bit
 * depth is accepted: grayscale, RGB, palette, grayscale with alpha and RGBA, at 1 to 16 bits
 * per sample, with tRNS transparency. Samples keep their full precision (16-bit images are
 * not rounded to 8 bits first).
 *
 * Colour becomes luma with the ITU-R BT.601 weights 0.299 R + 0.587 G + 0.114 B.
 * Transparent pixels are composited over a background chosen as follows. When most border
 * pixels are transparent, the transparency is the background, and it is taken as the
 * opposite of the ink: white when the alpha-weighted mean of the image is dark, else black.
 * Otherwise the background is the median gray of the opaque border pixels, so transparent
 * holes blend in with what surrounds them.
 * NOTE: the bKGD chunk and gamma (gAMA) are ignored, because pngjs 7 does not apply them.
 */
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';

import type { GrayImage } from './digit-preprocess.js';
import { DataFormatError } from './errors.js';

/** The 8-byte signature that every PNG file starts with. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Largest image accepted, in pixels. The decoded RGBA buffer takes 4 (8 for 16-bit) bytes per
 * pixel, so this bounds the memory that a small file with a huge declared size can claim.
 */
export const MAX_PNG_PIXELS = 2 ** 26;

const PNG_FIX = 'Give a valid PNG image.';

/** A decoded PNG: its grayscale pixels and the header fields that describe the source. */
export interface DecodedPng extends GrayImage {
  /** PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: number;
  /** Bits per sample (per palette index for colour type 3). */
  bitDepth: number;
  /** Whether any pixel was not fully opaque, so compositing took place. */
  transparent: boolean;
}

/** Returns whether `bytes` starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((byte, i) => bytes[i] === byte);
}

/**
 * Decodes a PNG file's bytes into a grayscale image.
 *
 * @param file path or name of the file, used in error messages
 * @throws DataFormatError naming `file` when the bytes are not a valid PNG or the image is
 *   larger than MAX_PNG_PIXELS
 */
export function decodePng(bytes: Uint8Array, file: string): DecodedPng {
  if (!isPng(bytes)) {
    const found = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw new DataFormatError(file, `not a PNG file: it starts with ${found === '' ? 'nothing (empty file)' : found}, not the PNG signature 89 50 4e 47 0d 0a 1a 0a`, PNG_FIX);
  }
  checkDeclaredSize(bytes, file);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true, checkCRC: true });
  } catch (error) {
    throw new DataFormatError(file, `invalid PNG (${(error as Error).message})`, PNG_FIX);
  }
  const { width, height, colorType, depth, palette } = png;
  // With skipRescale, pngjs returns samples at their stored depth (a Uint16Array for 16 bits),
  // except palette entries, which are always 8-bit.
  const samples = png.data as unknown as Uint8Array | Uint16Array;
  const sampleMax = palette ? 255 : 2 ** depth - 1;
  const luma = new Float32Array(width * height);
  const alpha = new Float32Array(width * height);
  let transparent = false;
  for (let i = 0; i < luma.length; i++) {
    const at = 4 * i;
    luma[i] = (0.299 * samples[at] + 0.587 * samples[at + 1] + 0.114 * samples[at + 2]) / sampleMax;
    alpha[i] = samples[at + 3] / sampleMax;
    if (alpha[i] < 1) transparent = true;
  }
  if (transparent) compositeOverBackground(luma, alpha, width, height);
  return { width, height, data: luma, colorType, bitDepth: depth, transparent };
}

/** Reads and decodes a PNG file; file system errors (ENOENT, EACCES) propagate unchanged. */
export async function readPngFile(path: string): Promise<DecodedPng> {
  return decodePng(await readFile(path), path);
}

/**
 * Checks the width and height in the IHDR chunk, which must come first, against
 * MAX_PNG_PIXELS before pngjs allocates the decoded image. A missing IHDR is left for pngjs
 * to report.
 */
function checkDeclaredSize(bytes: Uint8Array, file: string): void {
  if (bytes.length < 24) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunkType !== 'IHDR') return;
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  if (width * height > MAX_PNG_PIXELS) {
    throw new DataFormatError(file, `image is ${width} x ${height} pixels, more than the ${MAX_PNG_PIXELS} pixels accepted`, 'Scale the image down first.');
  }
}

/**
 * Replaces `luma` with luma * alpha + background * (1 - alpha), choosing the background as the
 * file header describes.
 *
 * @param luma [H, W] gray values in [0, 1], overwritten
 * @param alpha [H, W] opacities in [0, 1]
 */
export function compositeOverBackground(luma: Float32Array, alpha: Float32Array, width: number, height: number): void {
  const borderIndices: number[] = [];
  for (let y = 0; y < height; y++) {
    if (y === 0 || y === height - 1) {
      for (let x = 0; x < width; x++) borderIndices.push(y * width + x);
    } else {
      borderIndices.push(y * width);
      if (width > 1) borderIndices.push(y * width + width - 1);
    }
  }
  const opaqueBorder = borderIndices.filter((i) => alpha[i] >= 0.5).map((i) => luma[i]);
  let background: number;
  if (opaqueBorder.length * 2 > borderIndices.length) {
    background = median(opaqueBorder);
  } else {
    let weighted = 0;
    let totalAlpha = 0;
    for (let i = 0; i < luma.length; i++) {
      weighted += alpha[i] * luma[i];
      totalAlpha += alpha[i];
    }
    // A fully transparent image has no ink; white keeps it blank after compositing.
    background = totalAlpha === 0 || weighted / totalAlpha < 0.5 ? 1 : 0;
  }
  for (let i = 0; i < luma.length; i++) luma[i] = luma[i] * alpha[i] + background * (1 - alpha[i]);
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
