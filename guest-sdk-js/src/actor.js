// The Actor base class and the four outcomes of a call.

/** Answer the caller now and keep running. */
export function reply(value) {
  return Object.freeze({ outcome: 'reply', value });
}

const DEFER = Object.freeze({ outcome: 'defer' });

/** Answer later with ctx.reply(call, value) or ctx.replyError(call, text). */
export function defer() {
  return DEFER;
}

/** Answer the caller, then end normally. */
export function replyAndStop(value) {
  return Object.freeze({ outcome: 'reply-and-stop', value });
}

/** End with `reason` without answering; the caller gets `terminated`. */
export function stop(reason) {
  return Object.freeze({ outcome: 'stop', reason: String(reason) });
}

/**
 * Extend it and override the handlers you need. The instance is the
 * actor's state: its own properties are handed to the next instance as
 * JSON on a hot upgrade or when the actor hibernates (see toState).
 *
 * Static fields configure the actor: `encoding` (`json`, `text` or
 * `bytes`: its messages, init arguments, and native requests and answers),
 * `stateVersion` (raise it when the state changes shape, and teach
 * `static migrate(fromVersion, state)` the old shape), `stateful` (false:
 * hand nothing over; a new instance starts with init).
 */
export class Actor {
  static encoding = 'json';
  static stateVersion = 1;
  static stateful = true;

  /** Runs once at start with the spawn arguments (undefined when none). */
  init(ctx, args) {}

  /** Handles one message sent with send or sendAfter. */
  handleMessage(ctx, from, message) {}

  /** Handles one request; returns reply(v), defer(), replyAndStop(v) or stop(reason). */
  handleCall(ctx, call, request) {
    return stop(`${this.constructor.name} does not take calls`);
  }

  /** Handles an info: {kind: 'response' | 'down' | 'exit', ...}. */
  handleInfo(ctx, info) {
    ctx.debug(`unhandled info: ${info.kind}`);
  }

  /** Runs when the actor ends for a reason other than a trap. */
  terminate(ctx, reason) {}

  /** The state to hand over, as a JSON value: by default the own properties. */
  toState() {
    return { ...this };
  }

  /** Sets the instance up from a state of the current stateVersion. */
  fromState(state) {
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw new TypeError(`the state of ${this.constructor.name} must be a JSON object`);
    }
    Object.assign(this, state);
  }

  /** Turns a state of an older stateVersion into the current shape. */
  static migrate(fromVersion, state) {
    throw new Error(`no migration from state version ${fromVersion} to ${this.stateVersion}`);
  }
}
