// stats-js: typed requests in JSON, and a typed Rust actor called in JSON.
//
// It keeps numbers and answers with their mean, which it has the Rust
// `calculator` work out (its `CalcRequest::Divide(i64, i64)`, answered
// with `Result<i64, CalcError>`). Requests and answers use serde's JSON
// form, so a Rust, Python or JavaScript actor, the CLI and HTTP all speak
// it without hand-encoding:
//
//   wactor call stats-js --json '{"Record":4}'   # {"Ok":1}  (numbers kept)
//   wactor call stats-js --json '"Mean"'         # {"Ok":4}
//   wactor call stats-js --json '"Reset"'        # {"Ok":0}
//   wactor call stats-js --json '"Mean"'         # {"Err":"NoData"}
//
// `{"Err": ...}` is the application's error, part of the answer; a request
// of another shape is refused (`bad-request`) and the actor runs on.

import { Actor, DeliveryError, defer, reply } from '@wactor/guest';

export default class Stats extends Actor {
  init(ctx) {
    this.sum = 0;
    this.count = 0;
  }

  handleCall(ctx, call, request) {
    if (request && typeof request === 'object' && Number.isInteger(request.Record)) {
      this.sum += request.Record;
      this.count += 1;
      return reply({ Ok: this.count });
    }
    if (request === 'Reset') {
      this.sum = 0;
      this.count = 0;
      return reply({ Ok: 0 });
    }
    if (request === 'Mean') {
      // The calculator answers {"Ok": n} or {"Err": "DivisionByZero"}:
      // its Rust `Result<i64, CalcError>`.
      let answer;
      try {
        answer = ctx.call('calculator', { Divide: [this.sum, this.count] });
      } catch (e) {
        if (e instanceof DeliveryError) return reply({ Err: { Unavailable: e.message } });
        throw e;
      }
      if (answer.Err === 'DivisionByZero') return reply({ Err: 'NoData' });
      return reply(answer);
    }
    ctx.refuseRequest(call, 'expected {"Record": integer}, "Mean" or "Reset"');
    return defer();
  }
}
