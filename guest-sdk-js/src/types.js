// The plain values actors pass around: pids, refs, calls, infos.

/** The top bit of a ref's idHi: set when the call is in JSON. */
export const JSON_BIT = 1n << 63n;

/**
 * Names one actor process, anywhere in a cluster (id 0: the host itself).
 * `id` and `creation` are 64-bit (BigInt): a node's creation is a random
 * 64-bit number. In JSON they are written as decimal strings, which
 * Pid.from reads back exactly.
 */
export class Pid {
  constructor(node, id, creation) {
    this.node = String(node);
    this.id = BigInt(id);
    this.creation = BigInt(creation);
    Object.freeze(this);
  }

  isHost() {
    return this.id === 0n;
  }

  equals(other) {
    return other instanceof Pid && other.node === this.node && other.id === this.id && other.creation === this.creation;
  }

  toString() {
    return `<${this.node}.${this.id}.${this.creation}>`;
  }

  toJSON() {
    return { node: this.node, id: String(this.id), creation: String(this.creation) };
  }

  /** A Pid from its JSON form (or a Pid). */
  static from(value) {
    if (value instanceof Pid) return value;
    if (!value || typeof value !== 'object') throw new TypeError(`not a pid: ${JSON.stringify(value)}`);
    return new Pid(value.node, value.id, value.creation);
  }
}

/** Identifies one pending call; the top bit of idHi is its encoding. */
export class Ref {
  constructor(idHi, idLo, deadlineMs) {
    this.idHi = BigInt(idHi);
    this.idLo = BigInt(idLo);
    this.deadlineMs = Number(deadlineMs);
    Object.freeze(this);
  }

  /** `json` for a call made in JSON, `native` otherwise. */
  get encoding() {
    return (this.idHi & JSON_BIT) === 0n ? 'native' : 'json';
  }

  /** A string that names this ref (for Maps). */
  get key() {
    return `${this.idHi}:${this.idLo}`;
  }

  toJSON() {
    return { idHi: String(this.idHi), idLo: String(this.idLo), deadlineMs: this.deadlineMs };
  }

  static from(value) {
    if (value instanceof Ref) return value;
    if (!value || typeof value !== 'object') throw new TypeError(`not a ref: ${JSON.stringify(value)}`);
    return new Ref(value.idHi ?? value.id_hi, value.idLo ?? value.id_lo, value.deadlineMs ?? value.deadline_ms);
  }
}

/**
 * One pending call: who waits (`from`) and for what (`ref`). Keep it and
 * return defer() to answer later with ctx.reply(call, value). It survives
 * JSON (in a message, or in the actor's state): Call.from(JSON value).
 */
export class Call {
  constructor(from, ref) {
    this.from = Pid.from(from);
    this.ref = Ref.from(ref);
    Object.freeze(this);
  }

  /** `json` when the caller asked in JSON: the answer goes in JSON. */
  get encoding() {
    return this.ref.encoding;
  }

  toJSON() {
    return { from: this.from.toJSON(), ref: this.ref.toJSON() };
  }

  static from(value) {
    if (value instanceof Call) return value;
    if (!value || typeof value !== 'object') throw new TypeError(`not a call: ${JSON.stringify(value)}`);
    return new Call(value.from, value.ref);
  }
}

/** A pending timer, from ctx.sendAfter. */
export class Timer {
  constructor(id) {
    this.id = Number(id);
    Object.freeze(this);
  }
}

/** A monitor, from ctx.monitor; named again in its `down` info. */
export class Monitor {
  constructor(id) {
    this.id = Number(id);
    Object.freeze(this);
  }
}

export const LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error']);
