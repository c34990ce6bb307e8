// Type definitions for @wactor/guest/testing: unit-test an actor without a host.
import { Actor, Address, DeliveryError, Monitor, Pid, Ref, Context } from './index.js';

export const SELF: Pid;
export const OUTSIDE: Pid;

declare class Payload {
  payload?: Uint8Array;
  json(): any;
  text(): string;
}

export class Sent extends Payload {
  to: Address;
  payload: Uint8Array;
  important: boolean;
  timer?: number;
}

export class Answer extends Payload {
  to: Pid;
  ref: Ref;
  kind: 'reply' | 'error' | 'refused';
  text?: string;
  important: boolean;
}

export class FakeHost {
  constructor(me?: Pid);
  me: Pid;
  nowMs: number;
  sent: Sent[];
  responses: Answer[];
  calls: { to: Address; payload: Uint8Array; encoding: 'json' | 'native'; timeoutMs?: number; important: boolean }[];
  asyncCalls: { ref: Ref; to: Address; payload: Uint8Array; timeoutMs?: number }[];
  logs: { level: string; text: string }[];
  spawned: { behaviour: string; args: Uint8Array; pid: Pid }[];
  names: Map<string, Pid>;
  links: Pid[];
  monitors: Map<number, Address>;
  trappingExits: boolean;
  important: boolean;
  /** Calls to `to` are answered by fn(request); a thrown DeliveryError is the failure. */
  answer(to: Address, fn: (request: any) => unknown): void;
  /** Lets spawn start `name`. */
  behaviour(name: string, init?: (args: Uint8Array) => void): void;
}

export interface CallResult {
  kind: 'reply' | 'defer' | 'reply-and-stop' | 'stop';
  value?: any;
  ref: Ref;
  payload?: Uint8Array;
  answered?: Answer;
}

export class ActorTest<A extends Actor = Actor> {
  constructor(ActorClass: new () => A, args?: unknown, options?: { host?: FakeHost });
  readonly host: FakeHost;
  readonly actor: A;
  readonly ctx: Context;
  stopped: string | undefined;
  call(request: unknown, options?: { json?: boolean; from?: Pid }): CallResult;
  callJson(request: unknown, options?: { from?: Pid }): CallResult;
  callRaw(payload: Uint8Array, options?: { json?: boolean; from?: Pid }): CallResult;
  send(message: unknown, options?: { from?: Pid; encoding?: 'json' | 'text' | 'bytes' }): void;
  sendRaw(payload: Uint8Array, options?: { from?: Pid }): void;
  respond(ref: Ref, payload?: Uint8Array, options?: { error?: DeliveryError }): void;
  down(monitor: Monitor | number, pid: Pid, reason: string): void;
  exit(pid: Pid, reason: string): void;
  advance(ms: number): Sent[];
  terminate(reason?: string): void;
  snapshot(): [number, Uint8Array] | null;
  reload<B extends Actor = A>(NewClass?: new () => B): ActorTest<B>;
  hibernate(): ActorTest<A>;
}

export class InitFailed extends Error {}
