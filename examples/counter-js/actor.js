// counter-js: a counter in JavaScript.
//
// `wactor call counter-js inc` adds one and answers the new count as
// decimal text; `get` answers the count. The count is the actor's state (a
// property), so a hot reload or hibernation hands it to the next instance.

import { Actor, defer, reply } from '@wactor/guest';

export default class Counter extends Actor {
  static encoding = 'text'; // requests and answers are plain text

  init(ctx) {
    this.count = 0;
  }

  handleCall(ctx, call, request) {
    if (request === 'inc') {
      this.count += 1;
    } else if (request !== 'get') {
      ctx.refuseRequest(call, `expected \`inc\` or \`get\`, got ${JSON.stringify(request)}`);
      return defer();
    }
    return reply(String(this.count));
  }

  handleMessage(ctx, from, message) {
    // `wactor send counter-js inc` counts too, without an answer.
    if (message === 'inc') this.count += 1;
  }
}
