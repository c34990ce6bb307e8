// How values become payload bytes and back.
//
// An actor's native encoding (its class's static `encoding`) is `json`
// (the default), `text` (UTF-8 strings) or `bytes` (Uint8Array as it is).
// A call made in JSON (its ref has the JSON bit) is always read and
// answered in JSON. A Uint8Array is sent as it is in every encoding.

import { DeliveryError } from './errors.js';

export const ENCODINGS = Object.freeze(['json', 'text', 'bytes']);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function replacer(_key, value) {
  if (typeof value === 'bigint') {
    // JSON has no 64-bit integers; a safe one becomes a number.
    return Number.isSafeInteger(Number(value)) ? Number(value) : String(value);
  }
  return value;
}

export function checkEncoding(encoding) {
  if (!ENCODINGS.includes(encoding)) {
    throw new TypeError(`unknown encoding ${JSON.stringify(encoding)} (use one of ${ENCODINGS.join(', ')})`);
  }
  return encoding;
}

/** `value` as UTF-8 JSON. */
export function toJsonBytes(value) {
  let text;
  try {
    text = JSON.stringify(value, replacer);
  } catch (e) {
    throw new DeliveryError('decode', `could not encode as JSON: ${e.message}`);
  }
  if (text === undefined) {
    throw new DeliveryError('decode', `could not encode ${typeof value} as JSON`);
  }
  return encoder.encode(text);
}

/** The payload for `value` in `encoding`; a Uint8Array passes unchanged. */
export function encode(value, encoding) {
  if (value instanceof Uint8Array) return value;
  switch (checkEncoding(encoding)) {
    case 'json':
      return toJsonBytes(value);
    case 'text':
      if (typeof value === 'string') return encoder.encode(value);
      throw new DeliveryError('decode', `a text payload must be a string, not ${typeof value}`);
    default:
      throw new DeliveryError('decode', `a bytes payload must be a Uint8Array, not ${typeof value}`);
  }
}

/** Reads a whole payload in `encoding`; throws DeliveryError `decode`. */
export function decode(bytes, encoding) {
  checkEncoding(encoding);
  const data = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  if (encoding === 'bytes') return data;
  let text;
  try {
    text = decoder.decode(data);
  } catch (e) {
    throw new DeliveryError('decode', `expected UTF-8 ${encoding}: ${e.message}`);
  }
  if (encoding === 'text') return text;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DeliveryError('decode', `expected JSON: ${e.message}`);
  }
}
