// trio-js: the first hop of a chain through three languages.
//
//   wactor call trio-js hello
//   # trio-js > trio-py > echo: hello
//
// trio-js (JavaScript) asks trio-py (Python) in JSON, `{"Relay": text}`;
// trio-py asks the Rust `echo` with the text as it is; each hop names
// itself in the answer on the way back. A hop that fails names itself and
// the error's kind instead.

import { Actor, DeliveryError, reply } from '@wactor/guest';

export default class Trio extends Actor {
  static encoding = 'text';

  handleCall(ctx, call, text) {
    try {
      const answer = ctx.call('trio-py', { Relay: text });
      return reply(`trio-js > ${answer}`);
    } catch (e) {
      if (e instanceof DeliveryError) return reply(`trio-js > trio-py failed (${e.kind}): ${e.detail ?? ''}`);
      throw e;
    }
  }
}
