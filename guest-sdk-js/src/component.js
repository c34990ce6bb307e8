// The component side: the exports componentize-js needs, over the
// generated bindings of wit/actor.wit. scripts/build-guests writes the
// entry module, which is all it takes:
//
//   import * as host from 'wactor:actor/host@0.2.2';
//   import { exportsFor } from '@wactor/guest/component';
//   import Counter from './actor.js';
//   const actor = exportsFor(Counter, host);
//   export function init(args) { return actor.init(args); }
//   ...
//
// Only used inside a component build; unit tests use testing.js.

import { DeliveryError, RegisterError, SpawnError } from './errors.js';
import { Glue, InitFailed } from './glue.js';
import { Pid, Ref } from './types.js';

const toPid = (p) => new Pid(p.node, p.id, p.creation);
const witPid = (p) => ({ node: p.node, id: p.id, creation: p.creation });
const toRef = (r) => new Ref(r.idHi, r.idLo, r.deadlineMs);
const witRef = (r) => ({ idHi: r.idHi, idLo: r.idLo, deadlineMs: BigInt(r.deadlineMs) });
const witAddress = (to) => (to instanceof Pid ? { tag: 'pid', val: witPid(to) } : { tag: 'name', val: String(to) });

// An import's error comes as a ComponentError whose payload is the WIT
// variant ({tag, val}).
function payloadOf(e) {
  return e && typeof e === 'object' && 'payload' in e ? e.payload : e;
}

function deliveryError(variant) {
  if (variant && typeof variant === 'object' && typeof variant.tag === 'string') {
    return new DeliveryError(variant.tag, variant.val);
  }
  return new DeliveryError('remote', String(variant));
}

function delivered(f) {
  try {
    return f();
  } catch (e) {
    const p = payloadOf(e);
    if (p && typeof p === 'object' && typeof p.tag === 'string') throw deliveryError(p);
    throw e;
  }
}

function spawned(f) {
  try {
    return toPid(f());
  } catch (e) {
    const p = payloadOf(e);
    if (p && typeof p === 'object' && typeof p.tag === 'string') throw new SpawnError(p.tag, p.val);
    throw e;
  }
}

/** The host imports (the generated bindings), in the SDK's types. */
export function componentHost(h) {
  return {
    selfPid: () => toPid(h.self()),
    send: (to, payload, important) =>
      delivered(() => (important ? h.sendImportant : h.send)(witAddress(to), payload)),
    call: (to, payload, timeoutMs, important) =>
      delivered(() => (important ? h.callImportant : h.call)(witAddress(to), payload, timeoutMs)),
    callJson: (to, payload, timeoutMs) => delivered(() => h.callJson(witAddress(to), payload, timeoutMs)),
    callAsync: (to, payload, timeoutMs) => toRef(delivered(() => h.callAsync(witAddress(to), payload, timeoutMs))),
    sendResponse: (to, ref, payload, important) =>
      delivered(() => (important ? h.sendResponseImportant : h.sendResponse)(witPid(to), witRef(ref), payload)),
    sendResponseError: (to, ref, text) => delivered(() => h.sendResponseError(witPid(to), witRef(ref), text)),
    refuseRequest: (to, ref, reason) => delivered(() => h.refuseRequest(witPid(to), witRef(ref), reason)),
    refIsAlive: (ref) => h.refIsAlive(witRef(ref)),
    sendAfter: (to, payload, delayMs) => Number(h.sendAfter(witAddress(to), payload, delayMs)),
    cancelTimer: (id) => h.cancelTimer(BigInt(id)),
    spawn: (behaviour, args) => spawned(() => h.spawn(behaviour, args)),
    spawnPool: (behaviour, size, args) => spawned(() => h.spawnPool(behaviour, size, args)),
    register: (name) => {
      try {
        h.register(name);
      } catch (e) {
        const p = payloadOf(e);
        if (p && p.tag === 'taken') throw new RegisterError('taken', toPid(p.val));
        if (p && p.tag === 'invalid') throw new RegisterError('invalid', p.val);
        throw e;
      }
    },
    unregister: (name) => h.unregister(name),
    whereis: (name) => {
      const p = h.whereis(name);
      return p === undefined || p === null ? undefined : toPid(p);
    },
    link: (to) => delivered(() => h.link(witPid(to))),
    unlink: (to) => h.unlink(witPid(to)),
    trapExits: (on) => h.trapExits(on),
    monitor: (to) => Number(h.monitor(witAddress(to))),
    demonitor: (id) => h.demonitor(BigInt(id)),
    log: (level, text) => h.log(level, text),
    setImportantDelivery: (on) => h.setImportantDelivery(on),
  };
}

function rawInfo(info) {
  if (info.tag === 'response') {
    const { r, outcome } = info.val;
    const ref = toRef(r);
    if (outcome.tag === 'err') return { kind: 'response', ref, error: deliveryError(outcome.val) };
    return { kind: 'response', ref, payload: outcome.val };
  }
  if (info.tag === 'down') {
    const d = info.val;
    return { kind: 'down', monitor: Number(d.monitor), pid: toPid(d.pid), reason: d.reason };
  }
  return { kind: 'exit', pid: toPid(info.val.pid), reason: info.val.reason };
}

// A result's error for componentize-js: an Error whose payload is the
// string the WIT function returns.
function failure(e) {
  const err = new Error(e.message);
  Object.defineProperty(err, 'payload', { value: e.message, enumerable: false });
  return err;
}

/** The world's exports for ActorClass, over the generated host bindings. */
export function exportsFor(ActorClass, hostBindings) {
  const glue = new Glue(ActorClass, componentHost(hostBindings));
  return {
    init(args) {
      try {
        glue.init(args);
      } catch (e) {
        if (e instanceof InitFailed) throw failure(e);
        throw e;
      }
    },
    handleMessage(from, message) {
      glue.handleMessage(toPid(from), message);
    },
    handleCall(from, r, request) {
      const [kind, value] = glue.handleCall(toPid(from), toRef(r), request);
      if (kind === 'defer') return { tag: 'defer' };
      return { tag: kind, val: value };
    },
    handleInfo(info) {
      glue.handleInfo(rawInfo(info));
    },
    terminate(reason) {
      glue.terminate(reason);
    },
    snapshot() {
      const taken = glue.snapshot();
      return taken === null ? undefined : { version: taken[0], data: taken[1] };
    },
    restore(state) {
      try {
        glue.restore(state.version, state.data);
      } catch (e) {
        if (e instanceof InitFailed) throw failure(e);
        throw e;
      }
    },
  };
}
