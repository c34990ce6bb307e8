// The JavaScript SDK's own tests, on the fake host (node --test).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Actor, Call, DeliveryError, Pid, RegisterError, SpawnError, defer, reply, replyAndStop, stop } from '../src/index.js';
import { ActorTest, InitFailed, SELF } from '../src/testing.js';

const text = (bytes) => new TextDecoder().decode(bytes);

class Echo extends Actor {
  init(ctx, args) {
    this.args = args ?? null;
    this.seen = [];
    this.infos = [];
    this.pending = [];
    this.terminated = null;
  }

  handleCall(ctx, call, request) {
    if (request === 'defer') {
      this.pending.push(call);
      return defer();
    }
    if (request === 'flush') {
      for (const c of this.pending) ctx.reply(c, { flushed: this.pending.length });
      this.pending = [];
      return reply(null);
    }
    if (request === 'nothing') return undefined;
    if (request && 'reply' in request) return reply(request.reply);
    if (request && 'replyAndStop' in request) return replyAndStop(request.replyAndStop);
    if (request && 'stop' in request) return stop(request.stop);
    if (request && 'badReply' in request) return reply(10n ** 30n);
    return reply(request);
  }

  handleMessage(ctx, from, message) {
    this.seen.push([String(from), message]);
  }

  handleInfo(ctx, info) {
    this.infos.push(info);
  }

  terminate(ctx, reason) {
    this.terminated = reason;
  }
}

describe('outcomes', () => {
  test('each of the four outcomes', () => {
    const t = new ActorTest(Echo);
    assert.deepEqual([t.call({ reply: 3 }).kind, t.call({ reply: 3 }).value], ['reply', 3]);
    const deferred = t.call('defer');
    assert.equal(deferred.kind, 'defer');
    assert.equal(t.call('flush').value, null);
    assert.equal(t.host.responses.length, 1);
    assert.equal(t.host.responses[0].ref.key, deferred.ref.key);
    assert.deepEqual(t.host.responses[0].json(), { flushed: 1 });
    const last = t.call({ replyAndStop: 'bye' });
    assert.deepEqual([last.kind, last.value], ['reply-and-stop', 'bye']);
    assert.equal(t.stopped, 'normal');
    assert.equal(t.actor, null);
  });

  test('stop ends with the reason and terminate runs', () => {
    const t = new ActorTest(Echo);
    const actor = t.actor;
    const r = t.call({ stop: 'enough' });
    assert.deepEqual([r.kind, r.value], ['stop', 'enough']);
    assert.equal(actor.terminated, 'enough');
    assert.throws(() => t.call('anything'), (e) => e instanceof DeliveryError && e.kind === 'unknown-process');
  });

  test('a JSON call is answered in JSON, a native one natively', () => {
    class Text extends Actor {
      static encoding = 'text';
      handleCall(ctx, call, request) {
        return reply(`${call.encoding}:${request}`);
      }
    }
    const t = new ActorTest(Text);
    assert.equal(text(t.call('hi').payload), 'native:hi');
    assert.equal(text(t.callJson('hi').payload), '"json:hi"');
  });

  test('a request that does not decode is refused and the actor runs on', () => {
    const t = new ActorTest(Echo);
    const r = t.callRaw(new TextEncoder().encode('{not json'));
    assert.equal(r.kind, 'defer');
    assert.equal(r.answered.kind, 'refused');
    assert.match(r.answered.text, /could not decode the request as json/);
    assert.equal(t.call({ reply: 1 }).value, 1);
  });

  test('a handler that returns no outcome answers an error and runs on', () => {
    const t = new ActorTest(Echo);
    const r = t.call('nothing');
    assert.equal(r.answered.kind, 'error');
    assert.match(r.answered.text, /bad outcome/);
    assert.equal(t.call({ reply: 2 }).value, 2);
  });

  test('a reply that does not encode answers an error', () => {
    class Bad extends Actor {
      handleCall() {
        const cycle = {};
        cycle.self = cycle;
        return reply(cycle);
      }
    }
    const t = new ActorTest(Bad);
    const r = t.call(1);
    assert.equal(r.answered.kind, 'error');
    assert.match(r.answered.text, /bad reply/);
  });
});

describe('init and messages', () => {
  test('init gets its arguments, and undefined without', () => {
    assert.deepEqual(new ActorTest(Echo, { start: 5 }).actor.args, { start: 5 });
    assert.equal(new ActorTest(Echo).actor.args, null);
  });

  test('an init that throws fails with its text', () => {
    class Picky extends Actor {
      init() {
        throw new RangeError('no thanks');
      }
    }
    assert.throws(() => new ActorTest(Picky), (e) => e instanceof InitFailed && e.message === 'RangeError: no thanks');
  });

  test('messages arrive decoded and bad ones are dropped with a warning', () => {
    const t = new ActorTest(Echo);
    t.send({ n: 1 });
    t.sendRaw(new Uint8Array([0xff]));
    assert.deepEqual(t.actor.seen, [['<test.0.1>', { n: 1 }]]);
    const last = t.host.logs.at(-1);
    assert.equal(last.level, 'warn');
    assert.match(last.text, /dropped a message/);
  });
});

describe('context', () => {
  test('calls in JSON and text, and errors with their kind', () => {
    class Caller extends Actor {
      handleCall(ctx) {
        try {
          return reply([ctx.call('calc', { Add: [1, 2] }), ctx.callText('echo', 'hi')]);
        } catch (e) {
          return reply({ kind: e.kind, detail: e.detail });
        }
      }
    }
    const t = new ActorTest(Caller);
    t.host.answer('calc', (req) => ({ Ok: req.Add[0] + req.Add[1] }));
    t.host.answer('echo', (s) => s.toUpperCase());
    assert.deepEqual(t.call(null).value, [{ Ok: 3 }, 'HI']);
    assert.deepEqual(t.host.calls.map((c) => c.encoding), ['json', 'native']);
    t.host.answer('calc', () => {
      throw new DeliveryError('terminated', 'trap: boom');
    });
    assert.deepEqual(t.call(null).value, { kind: 'terminated', detail: 'trap: boom' });
  });

  test('a call to nobody is unknown-process, to oneself not-allowed', () => {
    const t = new ActorTest(Echo);
    assert.throws(() => t.ctx.call('nobody', 1), (e) => e.kind === 'unknown-process');
    assert.throws(() => t.ctx.call(SELF, 1), (e) => e.kind === 'not-allowed');
  });

  test('sends are recorded, plain and important', () => {
    const t = new ActorTest(Echo);
    t.host.answer('sink', () => null);
    t.ctx.send('sink', { a: 1 });
    t.ctx.sendText('sink', 'hi', { important: true });
    t.ctx.sendBytes(new Pid('test', 7, 1), new Uint8Array([0, 1]));
    assert.deepEqual(t.host.sent[0].json(), { a: 1 });
    assert.deepEqual([t.host.sent[1].text(), t.host.sent[1].important], ['hi', true]);
    assert.deepEqual([...t.host.sent[2].payload], [0, 1]);
  });

  test('an important JSON call is made with important delivery on', () => {
    const t = new ActorTest(Echo);
    t.host.answer('calc', (r) => r);
    t.ctx.call('calc', 1, { important: true });
    t.ctx.call('calc', 2);
    assert.deepEqual(t.host.calls.map((c) => c.important), [true, false]);
    assert.equal(t.host.important, false);
    t.ctx.setImportantDelivery(true);
    t.ctx.call('calc', 3, { important: true });
    assert.equal(t.host.important, true);
  });

  test('timers fire when the clock is advanced, and can be cancelled', () => {
    const t = new ActorTest(Echo);
    t.ctx.sendAfter(SELF, 'tick', 100);
    const cancelled = t.ctx.sendAfter(SELF, 'never', 50);
    t.ctx.sendAfter('elsewhere', 'out', 150);
    assert.equal(t.ctx.cancelTimer(cancelled), true);
    assert.equal(t.ctx.cancelTimer(cancelled), false);
    assert.deepEqual(t.advance(99), []);
    assert.deepEqual(t.actor.seen, []);
    const fired = t.advance(100);
    assert.deepEqual(fired.map((f) => f.json()), ['tick', 'out']);
    assert.deepEqual(t.actor.seen, [['<test.1.1>', 'tick']]);
    assert.equal(t.host.sent.at(-1).to, 'elsewhere');
  });

  test('spawn, names, links and monitors', () => {
    const t = new ActorTest(Echo);
    assert.throws(() => t.ctx.spawn('worker', { n: 1 }), (e) => e instanceof SpawnError && e.kind === 'unknown-behaviour');
    t.host.behaviour('worker');
    const pid = t.ctx.spawn('worker', { n: 1 });
    assert.deepEqual(JSON.parse(text(t.host.spawned[0].args)), { n: 1 });
    t.ctx.register('me');
    assert.ok(t.ctx.whereis('me').equals(SELF));
    t.host.names.set('taken', pid);
    assert.throws(() => t.ctx.register('taken'), (e) => e instanceof RegisterError && e.kind === 'taken' && e.detail.equals(pid));
    t.ctx.link(pid);
    t.ctx.trapExits(true);
    assert.equal(t.host.links.length, 1);
    assert.equal(t.host.trappingExits, true);
    const m = t.ctx.monitor(pid);
    t.down(m, pid, 'crashed');
    t.exit(pid, 'linked end');
    assert.deepEqual(t.actor.infos, [
      { kind: 'down', monitor: m.id, pid, reason: 'crashed' },
      { kind: 'exit', pid, reason: 'linked end' },
    ]);
  });

  test('an async call answer arrives as a response info', () => {
    const t = new ActorTest(Echo);
    t.host.answer('calc', (r) => r);
    const ref = t.ctx.callAsync('calc', { Add: [1, 1] });
    t.respond(ref, new TextEncoder().encode('{"Ok":2}'));
    const ref2 = t.ctx.callAsync('calc', 'x', { encoding: 'text' });
    t.respond(ref2, undefined, { error: new DeliveryError('timeout') });
    assert.deepEqual(t.actor.infos[0], { kind: 'response', ref, value: { Ok: 2 } });
    assert.equal(t.actor.infos[1].error.kind, 'timeout');
  });

  test('a call goes through JSON to another actor, which answers it', () => {
    class Forwarder extends Actor {
      handleCall(ctx, call, request) {
        ctx.send('worker', { job: request, call });
        return defer();
      }
    }
    const t = new ActorTest(Forwarder);
    t.host.answer('worker', () => null);
    const r = t.callJson('work');
    const sent = t.host.sent[0].json();
    const worker = new ActorTest(Echo, undefined, { host: t.host });
    worker.ctx.reply(Call.from(sent.call), 'done');
    assert.equal(t.host.responses.at(-1).ref.key, r.ref.key);
    assert.deepEqual(t.host.responses.at(-1).json(), 'done');
  });
});

describe('state', () => {
  test('the state goes as JSON with its version, deferred calls too', () => {
    const t = new ActorTest(Echo, 1);
    t.call('defer');
    const [version, data] = t.snapshot();
    assert.equal(version, 1);
    const state = JSON.parse(text(data));
    assert.equal(state.args, 1);
    assert.equal(state.pending.length, 1);
    const t2 = t.reload();
    assert.equal(t2.actor.args, 1);
    t2.call('flush');
    assert.deepEqual(t2.host.responses.at(-1).json(), { flushed: 1 });
  });

  test('an older state is migrated, or refused', () => {
    class V1 extends Actor {
      init() {
        this.total = 7;
      }
    }
    class V2 extends Actor {
      static stateVersion = 2;
      static migrate(from, state) {
        return { count: state.total, label: 'migrated' };
      }
    }
    class V2Strict extends Actor {
      static stateVersion = 2;
    }
    const t = new ActorTest(V1).reload(V2);
    assert.deepEqual([t.actor.count, t.actor.label], [7, 'migrated']);
    assert.ok(t.actor instanceof V2);
    assert.throws(() => new ActorTest(V1).reload(V2Strict), (e) => e instanceof InitFailed && /no migration from state version 1 to 2/.test(e.message));
  });

  test('a stateless actor hands nothing over', () => {
    class Stateless extends Actor {
      static stateful = false;
    }
    const t = new ActorTest(Stateless);
    assert.equal(t.snapshot(), null);
    assert.throws(() => t.reload(), InitFailed);
  });
});

describe('handler bugs', () => {
  test('an exception in a handler is logged and thrown on', () => {
    class Buggy extends Actor {
      handleCall() {
        throw new TypeError('missing');
      }
    }
    const t = new ActorTest(Buggy);
    assert.throws(() => t.call(1), TypeError);
    const last = t.host.logs.at(-1);
    assert.equal(last.level, 'error');
    assert.match(last.text, /Buggy\.handleCall threw TypeError: missing/);
  });
});
