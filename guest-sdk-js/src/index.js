// Write wactor actors in JavaScript or TypeScript.
//
// A wactor actor is a WebAssembly component that exports the
// wactor:actor/actor world; componentize-js builds one from a JavaScript
// module, and this package turns the contract into ordinary JavaScript: a
// class to extend, a Context for everything the host offers, and a fake
// host (@wactor/guest/testing) to unit-test an actor with node:test.
//
//   import { Actor, reply } from '@wactor/guest';
//
//   export default class Counter extends Actor {
//     static encoding = 'text';        // requests and answers are plain text
//     init(ctx) { this.count = 0; }    // the state: handed over on hot reload
//     handleCall(ctx, call, request) {
//       if (request === 'inc') this.count += 1;
//       return reply(String(this.count));
//     }
//   }

export { Actor, reply, defer, replyAndStop, stop } from './actor.js';
export { Context } from './context.js';
export { DELIVERY_ERROR_KINDS, DeliveryError, RegisterError, SpawnError } from './errors.js';
export { Call, JSON_BIT, Monitor, Pid, Ref, Timer } from './types.js';
export { ENCODINGS, decode, encode } from './codec.js';
