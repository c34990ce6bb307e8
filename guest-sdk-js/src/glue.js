// Between the host's exports and an Actor: decoding, encoding, outcomes
// and the state hand-off. Not part of the public API.
//
// The glue talks to a *host* object with one method per import of the WIT
// contract, in the SDK's own types (Pid, Ref, Uint8Array; failures thrown
// as DeliveryError). In a component it is component.js's adapter over the
// generated bindings; in unit tests it is testing.js's FakeHost.

import { Actor } from './actor.js';
import { checkEncoding, decode, encode, toJsonBytes } from './codec.js';
import { Context } from './context.js';
import { DeliveryError } from './errors.js';
import { Call } from './types.js';

/** init or restore failed; the message goes to the host. */
export class InitFailed extends Error {
  constructor(message) {
    super(message);
    this.name = 'InitFailed';
  }
}

function describe(e) {
  if (e instanceof Error) return e.message ? `${e.name}: ${e.message}` : e.name;
  return String(e);
}

export class Glue {
  constructor(ActorClass, host) {
    if (typeof ActorClass !== 'function' || !(ActorClass.prototype instanceof Actor)) {
      throw new TypeError(`${ActorClass && ActorClass.name} is not a class that extends Actor`);
    }
    checkEncoding(ActorClass.encoding);
    this.ActorClass = ActorClass;
    this.host = host;
    this.actor = null;
    this.important = false;
    this.asyncEncodings = new Map();
    this.ctx = new Context(this);
  }

  // ----- exports ----------------------------------------------------------

  init(args) {
    let value;
    try {
      value = args.length === 0 ? undefined : decode(args, this.ActorClass.encoding);
    } catch (e) {
      throw new InitFailed(`bad init arguments: ${e.detail ?? e.message}`);
    }
    const actor = new this.ActorClass();
    try {
      actor.init(this.ctx, value);
    } catch (e) {
      throw new InitFailed(describe(e));
    }
    this.actor = actor;
  }

  handleMessage(from, message) {
    const actor = this.#live();
    let value;
    try {
      value = decode(message, this.ActorClass.encoding);
    } catch (e) {
      this.ctx.warn(`dropped a message from ${from}: ${e.detail ?? e.message}`);
      return;
    }
    this.#guard('handleMessage', () => actor.handleMessage(this.ctx, from, value));
  }

  /** [kind, value]: ['reply', bytes], ['defer'], ['reply-and-stop', bytes], ['stop', reason]. */
  handleCall(from, ref, request) {
    const actor = this.#live();
    const call = new Call(from, ref);
    const encoding = ref.encoding === 'json' ? 'json' : this.ActorClass.encoding;
    let value;
    try {
      value = decode(request, encoding);
    } catch (e) {
      // The caller sent something this actor cannot read: its fault, and
      // the actor runs on.
      this.#quietly(() => this.host.refuseRequest(from, ref, `could not decode the request as ${encoding}: ${e.detail}`));
      return ['defer'];
    }
    const outcome = this.#guard('handleCall', () => actor.handleCall(this.ctx, call, value));
    const kind = outcome && typeof outcome === 'object' ? outcome.outcome : undefined;
    if (kind === 'reply' || kind === 'reply-and-stop') {
      try {
        return [kind, this.encodeReply(call, outcome.value)];
      } catch (e) {
        if (!(e instanceof DeliveryError)) throw e;
        this.#quietly(() => this.host.sendResponseError(from, ref, `bad reply: ${e.detail}`));
        return kind === 'reply' ? ['defer'] : ['stop', `bad reply: ${e.detail}`];
      }
    }
    if (kind === 'defer') return ['defer'];
    if (kind === 'stop') return ['stop', String(outcome.reason)];
    // Not an outcome (a forgotten `return`, say): the caller is told, and
    // the actor runs on.
    const text = `bad outcome: ${actor.constructor.name}.handleCall returned ${String(outcome)}; ` +
      'return reply(value), defer(), replyAndStop(value) or stop(reason)';
    this.ctx.error(text);
    this.#quietly(() => this.host.sendResponseError(from, ref, text));
    return ['defer'];
  }

  /** raw: {kind: 'response', ref, payload | error} | {kind: 'down', monitor, pid, reason} | {kind: 'exit', pid, reason}. */
  handleInfo(raw) {
    const actor = this.#live();
    let info;
    if (raw.kind === 'response') {
      const encoding = this.asyncEncodings.get(raw.ref.key) ?? 'json';
      this.asyncEncodings.delete(raw.ref.key);
      if (raw.error) {
        info = { kind: 'response', ref: raw.ref, error: raw.error };
      } else {
        try {
          info = { kind: 'response', ref: raw.ref, value: decode(raw.payload, encoding) };
        } catch (e) {
          info = { kind: 'response', ref: raw.ref, error: e };
        }
      }
    } else if (raw.kind === 'down') {
      info = { kind: 'down', monitor: raw.monitor, pid: raw.pid, reason: raw.reason };
    } else {
      info = { kind: 'exit', pid: raw.pid, reason: raw.reason };
    }
    this.#guard('handleInfo', () => actor.handleInfo(this.ctx, info));
  }

  terminate(reason) {
    const actor = this.actor;
    this.actor = null;
    if (actor) this.#guard('terminate', () => actor.terminate(this.ctx, reason));
  }

  /** [version, bytes] or null. */
  snapshot() {
    const actor = this.#live();
    if (!this.ActorClass.stateful) return null;
    const state = this.#guard('toState', () => actor.toState());
    return [Number(this.ActorClass.stateVersion), toJsonBytes(state)];
  }

  restore(version, data) {
    const Cls = this.ActorClass;
    if (!Cls.stateful) {
      throw new InitFailed(`state version ${version} cannot be restored: ${Cls.name} keeps no state across versions`);
    }
    let state;
    try {
      state = decode(data, 'json');
    } catch (e) {
      throw new InitFailed(`cannot decode the state of version ${version}: ${e.detail}`);
    }
    let actor;
    try {
      if (version !== Cls.stateVersion) state = Cls.migrate(version, state);
      actor = Object.create(Cls.prototype);
      actor.fromState(state);
    } catch (e) {
      throw new InitFailed(`cannot restore the state of version ${version}: ${describe(e)}`);
    }
    this.actor = actor;
  }

  // ----- for the context --------------------------------------------------

  encodeReply(call, value) {
    return encode(value, call.encoding === 'json' ? 'json' : this.ActorClass.encoding);
  }

  callJson(to, payload, timeoutMs, important) {
    // There is no important form of call-json; the actor's important
    // delivery switch makes it one for this call.
    if (important && !this.important) {
      this.host.setImportantDelivery(true);
      try {
        return this.host.callJson(to, payload, timeoutMs);
      } finally {
        this.host.setImportantDelivery(false);
      }
    }
    return this.host.callJson(to, payload, timeoutMs);
  }

  // ----- helpers -------------------------------------------------------------

  #live() {
    if (!this.actor) throw new Error(`${this.ActorClass.name}: called before a successful init`);
    return this.actor;
  }

  // The author's exception is a bug: logged with its stack, then thrown
  // on, which traps the instance (as a panic does in Rust).
  #guard(what, f) {
    try {
      return f();
    } catch (e) {
      try {
        this.host.log('error', `${this.ActorClass.name}.${what} threw ${describe(e)}${e && e.stack ? `\n${e.stack}` : ''}`);
      } catch {
        // logging is best effort
      }
      throw e;
    }
  }

  #quietly(f) {
    try {
      f();
    } catch (e) {
      if (!(e instanceof DeliveryError)) throw e;
      this.ctx.debug(`could not answer a call: ${e.message}`);
    }
  }
}
