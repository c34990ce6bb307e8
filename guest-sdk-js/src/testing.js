// Unit-test an actor without a host.
//
// ActorTest runs an actor class in-process, through the same glue a
// component uses, against a FakeHost that records what the actor does and
// answers what it asks from a script:
//
//   import { test } from 'node:test';
//   import assert from 'node:assert/strict';
//   import { ActorTest } from '@wactor/guest/testing';
//   import Counter from '../actor.js';
//
//   test('counts, and keeps the count across a reload', () => {
//     let t = new ActorTest(Counter);
//     assert.equal(t.call('inc').value, '1');
//     t = t.reload();
//     assert.equal(t.call('get').value, '1');
//   });

import { decode, encode, toJsonBytes } from './codec.js';
import { DeliveryError, RegisterError, SpawnError } from './errors.js';
import { Glue, InitFailed } from './glue.js';
import { JSON_BIT, Pid, Ref } from './types.js';

/** The pid the fake host gives the actor under test. */
export const SELF = new Pid('test', 1, 1);
/** The sender of the calls and messages a test makes (the host's pid). */
export const OUTSIDE = new Pid('test', 0, 1);

const keyOf = (to) => (to instanceof Pid ? `pid:${to.node}.${to.id}.${to.creation}` : `name:${to}`);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A recorded payload, with readers. */
class Payload {
  json() {
    return decode(this.payload ?? new Uint8Array(0), 'json');
  }
  text() {
    return decode(this.payload ?? new Uint8Array(0), 'text');
  }
}

/** A message the actor sent (timer: the id of the timer that sent it). */
export class Sent extends Payload {
  constructor(to, payload, important = false, timer = undefined) {
    super();
    Object.assign(this, { to, payload, important, timer });
  }
}

/** An answer given after the call returned: kind reply, error or refused. */
export class Answer extends Payload {
  constructor(to, ref, kind, { payload, text, important = false } = {}) {
    super();
    Object.assign(this, { to, ref, kind, payload, text, important });
  }
}

/** The host imports, played in memory. */
export class FakeHost {
  constructor(me = SELF) {
    this.me = me;
    this.nowMs = 1_000_000;
    this.sent = [];
    this.responses = [];
    this.calls = [];
    this.asyncCalls = [];
    this.logs = [];
    this.spawned = [];
    this.names = new Map();
    this.links = [];
    this.monitors = new Map();
    this.trappingExits = false;
    this.important = false;
    this.timers = new Map();
    this.waiting = new Set();
    this.behaviours = new Map();
    this.answers = new Map();
    this.next = 100;
  }

  /**
   * Calls to `to` (a name or a Pid) are answered by fn(request): the
   * request decoded (JSON for ctx.call, a string for callText, bytes for
   * callBytes); its return value is the answer, a thrown DeliveryError
   * the failure. Calls to anything else fail with unknown-process.
   */
  answer(to, fn) {
    this.answers.set(keyOf(to), fn);
  }

  /** Lets spawn start `name`; init(args) may throw a SpawnError. */
  behaviour(name, init = () => {}) {
    this.behaviours.set(name, init);
  }

  id() {
    this.next += 1;
    return this.next;
  }

  // ----- the imports ----------------------------------------------------------

  selfPid() {
    return this.me;
  }

  #check(to) {
    if (typeof to === 'string' && !to.includes('@') && !this.names.has(to) && !this.answers.has(keyOf(to))) {
      throw new DeliveryError('unknown-process');
    }
  }

  send(to, payload, important) {
    this.#check(to);
    this.sent.push(new Sent(to, payload, important || this.important));
  }

  #answer(to, payload, encoding) {
    const mine = to instanceof Pid ? to.equals(this.me) : this.names.get(to)?.equals(this.me);
    if (mine) throw new DeliveryError('not-allowed', 'a call to oneself would wait forever');
    let fn = this.answers.get(keyOf(to));
    if (!fn && typeof to === 'string' && this.names.has(to)) fn = this.answers.get(keyOf(this.names.get(to)));
    if (!fn) throw new DeliveryError('unknown-process');
    if (encoding === 'json') return toJsonBytes(fn(decode(payload, 'json')));
    let request;
    try {
      request = utf8.decode(payload);
    } catch {
      request = payload;
    }
    const answer = fn(request);
    return encode(answer, typeof answer === 'string' ? 'text' : 'bytes');
  }

  call(to, payload, timeoutMs, important) {
    this.calls.push({ to, payload, encoding: 'native', timeoutMs, important: important || this.important });
    return this.#answer(to, payload, 'native');
  }

  callJson(to, payload, timeoutMs) {
    this.calls.push({ to, payload, encoding: 'json', timeoutMs, important: this.important });
    return this.#answer(to, payload, 'json');
  }

  callAsync(to, payload, timeoutMs) {
    this.#check(to);
    const ref = new Ref(this.id(), this.id(), this.nowMs + (timeoutMs ?? 5000));
    this.asyncCalls.push({ ref, to, payload, timeoutMs });
    return ref;
  }

  #respond(answer) {
    if (!this.waiting.has(answer.ref.key)) {
      throw new DeliveryError(answer.important ? 'response-ignored' : 'unknown-process');
    }
    this.waiting.delete(answer.ref.key);
    this.responses.push(answer);
  }

  sendResponse(to, ref, payload, important) {
    const imp = important || this.important;
    // A late answer is dropped by the host, silently.
    if (!this.waiting.has(ref.key) && !imp) return;
    this.#respond(new Answer(to, ref, 'reply', { payload, important: imp }));
  }

  sendResponseError(to, ref, text) {
    if (this.waiting.has(ref.key)) this.#respond(new Answer(to, ref, 'error', { text }));
  }

  refuseRequest(to, ref, reason) {
    if (this.waiting.has(ref.key)) this.#respond(new Answer(to, ref, 'refused', { text: reason }));
  }

  refIsAlive(ref) {
    return this.waiting.has(ref.key) && ref.deadlineMs > this.nowMs;
  }

  sendAfter(to, payload, delayMs) {
    const id = this.id();
    this.timers.set(id, { id, to, payload, dueMs: this.nowMs + delayMs });
    return id;
  }

  cancelTimer(id) {
    return this.timers.delete(id);
  }

  spawn(behaviour, args) {
    const init = this.behaviours.get(behaviour);
    if (!init) throw new SpawnError('unknown-behaviour', behaviour);
    init(args);
    const pid = new Pid(this.me.node, this.id(), this.me.creation);
    this.spawned.push({ behaviour, args, pid });
    return pid;
  }

  spawnPool(behaviour, size, args) {
    return this.spawn(behaviour, args);
  }

  register(name) {
    if (!name || name.includes('@') || name.length > 255) throw new RegisterError('invalid', `\`${name}\` is not a valid name`);
    const holder = this.names.get(name);
    if (holder && !holder.equals(this.me)) throw new RegisterError('taken', holder);
    this.names.set(name, this.me);
  }

  unregister(name) {
    if (this.names.get(name)?.equals(this.me)) {
      this.names.delete(name);
      return true;
    }
    return false;
  }

  whereis(name) {
    return this.names.get(name);
  }

  link(to) {
    if (!this.links.some((p) => p.equals(to))) this.links.push(to);
  }

  unlink(to) {
    this.links = this.links.filter((p) => !p.equals(to));
  }

  trapExits(on) {
    this.trappingExits = on;
  }

  monitor(to) {
    const id = this.id();
    this.monitors.set(id, to);
    return id;
  }

  demonitor(id) {
    return this.monitors.delete(id);
  }

  log(level, text) {
    this.logs.push({ level, text });
  }

  setImportantDelivery(on) {
    this.important = on;
  }
}

/** One actor under test. */
export class ActorTest {
  /**
   * Starts ActorClass (its init runs with `args`, encoded in the actor's
   * encoding; undefined: no arguments) on `host` (a new FakeHost).
   */
  constructor(ActorClass, args, { host, restoreFrom } = {}) {
    this.ActorClass = ActorClass;
    this.host = host ?? new FakeHost();
    this.glue = new Glue(ActorClass, this.host);
    this.stopped = undefined;
    if (restoreFrom) {
      this.glue.restore(restoreFrom[0], restoreFrom[1]);
    } else {
      this.glue.init(args === undefined ? new Uint8Array(0) : encode(args, ActorClass.encoding));
    }
  }

  /** The actor instance (its own properties are its state). */
  get actor() {
    return this.glue.actor;
  }

  get ctx() {
    return this.glue.ctx;
  }

  #ref(json) {
    const hi = BigInt(this.host.id()) | (json ? JSON_BIT : 0n);
    return new Ref(hi, this.host.id(), this.host.nowMs + 5000);
  }

  /**
   * Calls the actor natively (request in its encoding), or in JSON with
   * {json: true}. Returns {kind, value, ref, payload, answered}: kind
   * reply | defer | reply-and-stop | stop; value the decoded answer or the
   * stop reason; for a deferred call, its answer shows up in
   * host.responses (and `answered`, when the SDK answered at once: a
   * refused request, a bad reply).
   */
  call(request, { json = false, from = OUTSIDE } = {}) {
    const payload = json ? toJsonBytes(request) : encode(request, this.ActorClass.encoding);
    return this.callRaw(payload, { json, from });
  }

  /** Calls the actor in JSON, as `wactor call --json` does. */
  callJson(request, { from = OUTSIDE } = {}) {
    return this.call(request, { json: true, from });
  }

  callRaw(payload, { json = false, from = OUTSIDE } = {}) {
    if (this.stopped !== undefined) throw new DeliveryError('unknown-process');
    const ref = this.#ref(json);
    this.host.waiting.add(ref.key);
    const before = this.host.responses.length;
    const [kind, value] = this.glue.handleCall(from, ref, payload);
    const encoding = json ? 'json' : this.ActorClass.encoding;
    let result;
    if (kind === 'reply' || kind === 'reply-and-stop') {
      this.host.waiting.delete(ref.key);
      result = { kind, value: decode(value, encoding), ref, payload: value };
    } else if (kind === 'stop') {
      this.host.waiting.delete(ref.key);
      result = { kind, value, ref };
    } else {
      result = { kind, ref, answered: this.host.responses.slice(before).find((a) => a.ref.key === ref.key) };
    }
    if (kind === 'reply-and-stop') this.#stop('normal');
    if (kind === 'stop') this.#stop(value);
    return result;
  }

  /** Delivers a message (in the actor's encoding unless told). */
  send(message, { from = OUTSIDE, encoding } = {}) {
    this.glue.handleMessage(from, encode(message, encoding ?? this.ActorClass.encoding));
  }

  sendRaw(payload, { from = OUTSIDE } = {}) {
    this.glue.handleMessage(from, payload);
  }

  /** Delivers the answer (bytes) or the error of one of the actor's callAsync calls. */
  respond(ref, payload, { error } = {}) {
    this.glue.handleInfo(error ? { kind: 'response', ref, error } : { kind: 'response', ref, payload });
  }

  /** Delivers a monitor's down info. */
  down(monitor, pid, reason) {
    const id = typeof monitor === 'object' ? monitor.id : Number(monitor);
    this.host.monitors.delete(id);
    this.glue.handleInfo({ kind: 'down', monitor: id, pid, reason });
  }

  /** Delivers a link's exit info. */
  exit(pid, reason) {
    this.glue.handleInfo({ kind: 'exit', pid, reason });
  }

  /**
   * Moves the fake clock `ms` forward and fires the timers that fall due,
   * in order: a message to the actor itself is handled by it, others are
   * recorded in host.sent. Returns the fired ones.
   */
  advance(ms) {
    const end = this.host.nowMs + ms;
    const fired = [];
    for (;;) {
      const due = [...this.host.timers.values()].filter((t) => t.dueMs <= end).sort((a, b) => a.dueMs - b.dueMs || a.id - b.id);
      if (due.length === 0) break;
      const timer = due[0];
      this.host.timers.delete(timer.id);
      this.host.nowMs = Math.max(this.host.nowMs, timer.dueMs);
      const sent = new Sent(timer.to, timer.payload, false, timer.id);
      fired.push(sent);
      const me = this.host.me;
      const toMe = timer.to instanceof Pid ? timer.to.equals(me) : this.host.names.get(timer.to)?.equals(me);
      if (toMe) {
        if (this.stopped === undefined) this.glue.handleMessage(me, timer.payload);
      } else {
        this.host.sent.push(sent);
      }
    }
    this.host.nowMs = end;
    return fired;
  }

  /** Stops the actor as the host does (terminate runs). */
  terminate(reason = 'normal') {
    this.#stop(reason);
  }

  #stop(reason) {
    if (this.stopped === undefined) {
      this.stopped = reason;
      this.glue.terminate(reason);
    }
  }

  /** What the SDK hands the host: [stateVersion, JSON bytes], or null. */
  snapshot() {
    return this.glue.snapshot();
  }

  /**
   * A hot upgrade to NewClass (default: the same class): the state goes
   * through snapshot and restore, the fake host (timers, names, records)
   * stays. Returns the test of the new instance.
   */
  reload(NewClass = this.ActorClass) {
    const taken = this.glue.snapshot();
    if (taken === null) throw new InitFailed(`${this.ActorClass.name} hands no state over`);
    return new ActorTest(NewClass, undefined, { host: this.host, restoreFrom: taken });
  }

  /** Hibernation and wake: the same hand-off as reload. */
  hibernate() {
    return this.reload();
  }
}

export { InitFailed };
