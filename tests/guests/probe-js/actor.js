// probe-js: a test guest that does, on request, each thing the host and the
// SDK must get right (tests/languages.rs). Requests are JSON:
//
//   {"Add": n} -> the new count       "Get" -> the count (its state)
//   {"Defer": ms} -> answered "deferred" by a timer to itself after ms
//   {"ReplyAndStop": v} -> v, then the actor ends normally
//   {"Stop": reason} -> the caller gets terminated(reason)
//   {"Fail": text} -> the caller gets remote(text) (reply_error)
//   {"Divide": [a, b]} -> the calculator's typed answer, in JSON
//   {"CallText": {"to", "text", "important"}} -> {"Ok": answer} | {"Err": {"kind", "detail"}}
//   {"SendText": {"to", "text", "important"}} -> {"Ok": null} | {"Err": {"kind", "detail"}}
//   "Spin" -> never returns (the CPU budget stops it)
//   {"Alloc": mib} -> holds mib MiB more (the memory limit stops it)
//   "Whoami" -> this actor's pid, as text

import { Actor, Call, DeliveryError, defer, reply, replyAndStop, stop } from '@wactor/guest';

function failure(e) {
  if (e instanceof DeliveryError) return { Err: { kind: e.kind, detail: e.detail ?? null } };
  throw e;
}

export default class Probe extends Actor {
  init(ctx) {
    this.count = 0;
  }

  toState() {
    return { count: this.count };
  }

  handleCall(ctx, call, request) {
    if (request === 'Get') return reply(this.count);
    if (request === 'Whoami') return reply(String(ctx.selfPid()));
    if (request === 'Spin') {
      for (;;) {
        this.count += 1;
      }
    }
    const [kind] = Object.keys(request ?? {});
    const arg = request?.[kind];
    switch (kind) {
      case 'Alloc': {
        const block = new Uint8Array(arg * 1024 * 1024);
        block.fill(1);
        this.held = (this.held ?? []).concat([block]);
        return reply(this.held.length);
      }
      case 'Add':
        this.count += arg;
        return reply(this.count);
      case 'Defer':
        ctx.sendAfter(ctx.selfPid(), { Answer: call }, arg);
        return defer();
      case 'ReplyAndStop':
        return replyAndStop(arg);
      case 'Stop':
        return stop(arg);
      case 'Fail':
        ctx.replyError(call, arg);
        return defer();
      case 'Divide':
        return reply(ctx.call('calculator', { Divide: arg }));
      case 'CallText':
        try {
          return reply({ Ok: ctx.callText(arg.to, arg.text, { important: arg.important }) });
        } catch (e) {
          return reply(failure(e));
        }
      case 'SendText':
        try {
          ctx.sendText(arg.to, arg.text, { important: arg.important });
          return reply({ Ok: null });
        } catch (e) {
          return reply(failure(e));
        }
      default:
        ctx.refuseRequest(call, `unknown probe request ${JSON.stringify(request)}`);
        return defer();
    }
  }

  handleMessage(ctx, from, message) {
    if (message && message.Answer) ctx.reply(Call.from(message.Answer), 'deferred');
  }
}
