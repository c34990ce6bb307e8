// The exceptions an actor sees when the host cannot do what it asked.

/** The kinds of DeliveryError: the WIT contract's, plus `decode`. */
export const DELIVERY_ERROR_KINDS = Object.freeze([
  'unknown-process',
  'mailbox-full',
  'timeout',
  'no-connection',
  'response-ignored',
  'terminated',
  'remote',
  'not-allowed',
  'payload-too-large',
  'decode',
]);

/**
 * A message, call or response did not get through. `kind` is one of
 * DELIVERY_ERROR_KINDS; `detail` the variant's value (the exit reason of
 * `terminated`, the callee's text of `remote`, the reason of `not-allowed`,
 * the limit of `payload-too-large`, the decoder's complaint of `decode`).
 */
export class DeliveryError extends Error {
  constructor(kind, detail) {
    if (!DELIVERY_ERROR_KINDS.includes(kind)) {
      throw new TypeError(`unknown delivery error kind ${JSON.stringify(kind)}`);
    }
    super(detail === undefined || detail === null ? kind : `${kind}: ${detail}`);
    this.name = 'DeliveryError';
    this.kind = kind;
    this.detail = detail === null ? undefined : detail;
  }
}

/** `spawn` failed: kind `unknown-behaviour`, `limit-reached` or `init-failed`. */
export class SpawnError extends Error {
  constructor(kind, detail) {
    super(detail === undefined ? kind : `${kind}: ${detail}`);
    this.name = 'SpawnError';
    this.kind = kind;
    this.detail = detail;
  }
}

/** `register` failed: kind `taken` (detail: the holder's Pid) or `invalid`. */
export class RegisterError extends Error {
  constructor(kind, detail) {
    super(detail === undefined ? kind : `${kind}: ${detail}`);
    this.name = 'RegisterError';
    this.kind = kind;
    this.detail = detail;
  }
}
