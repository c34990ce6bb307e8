// The Context: what an actor can ask of its host.

import { checkEncoding, decode, encode, toJsonBytes } from './codec.js';
import { DeliveryError } from './errors.js';
import { Call, LEVELS, Monitor, Pid, Timer } from './types.js';

function address(to) {
  if (to instanceof Pid || typeof to === 'string') return to;
  if (to && typeof to === 'object') return Pid.from(to);
  throw new TypeError(`an address is a Pid or a name, not ${typeof to}`);
}

function u32(n) {
  const v = Math.trunc(Number(n));
  if (!(v >= 0)) throw new RangeError(`${n} is not a non-negative number`);
  return Math.min(v, 0xffffffff);
}

function timeout(ms) {
  return ms === undefined || ms === null ? undefined : u32(ms);
}

function args(value, encoding) {
  return value === undefined || value === null ? new Uint8Array(0) : encode(value, checkEncoding(encoding));
}

/**
 * The actor's handle on its host, passed to every handler. Addresses are a
 * Pid or a registered name (`name`, or `name@node`). Failures throw
 * DeliveryError (with its `kind`), SpawnError or RegisterError.
 *
 * Typed values go as JSON, the encoding every wactor SDK reads; the *Text
 * and *Bytes forms send UTF-8 text or bytes as they are (what a Rust actor
 * with Raw requests, like `echo`, reads).
 */
export class Context {
  #glue;
  #host;

  constructor(glue) {
    this.#glue = glue;
    this.#host = glue.host;
  }

  /** This actor's own pid. */
  selfPid() {
    return this.#host.selfPid();
  }

  // ----- messages -------------------------------------------------------

  /** Puts `message` (JSON unless opts.encoding) in `to`'s mailbox. */
  send(to, message, { encoding = 'json', important = false } = {}) {
    this.#host.send(address(to), encode(message, checkEncoding(encoding)), important);
  }

  sendText(to, text, { important = false } = {}) {
    this.send(to, text, { encoding: 'text', important });
  }

  sendBytes(to, bytes, { important = false } = {}) {
    this.send(to, bytes, { encoding: 'bytes', important });
  }

  /** send(..., {important: true}): across hosts, returns once the message is in the mailbox. */
  sendImportant(to, message, { encoding = 'json' } = {}) {
    this.send(to, message, { encoding, important: true });
  }

  /** Sends `message` to `to` after `delayMs`; returns a cancellable Timer. */
  sendAfter(to, message, delayMs, { encoding = 'json' } = {}) {
    const id = this.#host.sendAfter(address(to), encode(message, checkEncoding(encoding)), u32(delayMs));
    return new Timer(id);
  }

  /** Cancels a timer; true if it had not fired yet. */
  cancelTimer(timer) {
    return this.#host.cancelTimer(timer instanceof Timer ? timer.id : Number(timer));
  }

  // ----- calls ----------------------------------------------------------

  /**
   * Calls `to` in JSON and returns its answer, decoded. Any typed actor
   * understands it (a Rust one answers with its serde JSON form). Throws
   * DeliveryError: timeout, unknown-process, terminated, remote,
   * not-allowed (a self-call or cycle, or `bad request: ...`).
   */
  call(to, request, { timeoutMs, important = false } = {}) {
    const answer = this.#glue.callJson(address(to), toJsonBytes(request), timeout(timeoutMs), important);
    return decode(answer, 'json');
  }

  /** A native call with UTF-8 text; the answer as text. */
  callText(to, text, { timeoutMs, important = false } = {}) {
    return decode(this.callBytes(to, encode(String(text), 'text'), { timeoutMs, important }), 'text');
  }

  /** A native call with bytes as they are; the answer's bytes. */
  callBytes(to, bytes, { timeoutMs, important = false } = {}) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('callBytes takes a Uint8Array');
    return this.#host.call(address(to), bytes, timeout(timeoutMs), important);
  }

  /** call(..., {important: true}): a request that cannot be delivered fails at once. */
  callImportant(to, request, { timeoutMs } = {}) {
    return this.call(to, request, { timeoutMs, important: true });
  }

  /**
   * Sends a request (natively, in opts.encoding) and returns its Ref at
   * once; the answer arrives in handleInfo as {kind: 'response', ref,
   * value} or {kind: 'response', ref, error}.
   */
  callAsync(to, request, { encoding = 'json', timeoutMs } = {}) {
    const ref = this.#host.callAsync(address(to), encode(request, checkEncoding(encoding)), timeout(timeoutMs));
    this.#glue.asyncEncodings.set(ref.key, encoding);
    return ref;
  }

  // ----- answering calls -------------------------------------------------

  /** Answers a deferred call, in the encoding its caller used. */
  reply(call, value, { important = false } = {}) {
    const c = Call.from(call);
    let payload;
    try {
      payload = this.#glue.encodeReply(c, value);
    } catch (e) {
      if (e instanceof DeliveryError) this.replyError(c, `bad reply: ${e.detail}`);
      throw e;
    }
    this.#host.sendResponse(c.from, c.ref, payload, important);
  }

  replyImportant(call, value) {
    this.reply(call, value, { important: true });
  }

  /** The caller gets `remote(error)`: no answer can be given. */
  replyError(call, error) {
    const c = Call.from(call);
    this.#host.sendResponseError(c.from, c.ref, String(error));
  }

  /** The caller gets `not-allowed("bad request: " + reason)`. */
  refuseRequest(call, reason) {
    const c = Call.from(call);
    this.#host.refuseRequest(c.from, c.ref, String(reason));
  }

  /** True while the caller behind `call` still waits. */
  isAlive(call) {
    return this.#host.refIsAlive(Call.from(call).ref);
  }

  /** Makes every later send, call and answer important (or plain again). */
  setImportantDelivery(on) {
    this.#glue.important = Boolean(on);
    this.#host.setImportantDelivery(Boolean(on));
  }

  // ----- processes and names ----------------------------------------------

  /** Starts an actor of a loaded behaviour; its pid once its init succeeded. */
  spawn(behaviour, spawnArgs, { encoding = 'json' } = {}) {
    return this.#host.spawn(String(behaviour), args(spawnArgs, encoding));
  }

  spawnPool(behaviour, size, spawnArgs, { encoding = 'json' } = {}) {
    return this.#host.spawnPool(String(behaviour), u32(size), args(spawnArgs, encoding));
  }

  register(name) {
    this.#host.register(String(name));
  }

  unregister(name) {
    return this.#host.unregister(String(name));
  }

  /** The pid registered as `name` (or `name@node`), or undefined. */
  whereis(name) {
    return this.#host.whereis(String(name));
  }

  // ----- supervision ----------------------------------------------------------

  link(to) {
    this.#host.link(Pid.from(to));
  }

  unlink(to) {
    this.#host.unlink(Pid.from(to));
  }

  trapExits(on) {
    this.#host.trapExits(Boolean(on));
  }

  monitor(to) {
    return new Monitor(this.#host.monitor(address(to)));
  }

  demonitor(monitor) {
    return this.#host.demonitor(monitor instanceof Monitor ? monitor.id : Number(monitor));
  }

  // ----- logging --------------------------------------------------------------

  log(level, text) {
    if (!LEVELS.includes(level)) throw new TypeError(`unknown level ${JSON.stringify(level)}`);
    this.#host.log(level, String(text));
  }

  trace(text) { this.log('trace', text); }
  debug(text) { this.log('debug', text); }
  info(text) { this.log('info', text); }
  warn(text) { this.log('warn', text); }
  error(text) { this.log('error', text); }
}
