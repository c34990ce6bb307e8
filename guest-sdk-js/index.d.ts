// Type definitions for @wactor/guest: write wactor actors in JavaScript or
// TypeScript. See src/index.js and the wactor README.

/** How an actor reads its messages, init arguments and native calls. */
export type Encoding = 'json' | 'text' | 'bytes';

/** The kinds of DeliveryError: the WIT contract's, plus `decode`. */
export type DeliveryErrorKind =
  | 'unknown-process'
  | 'mailbox-full'
  | 'timeout'
  | 'no-connection'
  | 'response-ignored'
  | 'terminated'
  | 'remote'
  | 'not-allowed'
  | 'payload-too-large'
  | 'decode';

export const DELIVERY_ERROR_KINDS: readonly DeliveryErrorKind[];
export const ENCODINGS: readonly Encoding[];
/** The top bit of a ref's idHi: set when the call is in JSON. */
export const JSON_BIT: bigint;

/** A message, call or response did not get through. */
export class DeliveryError extends Error {
  constructor(kind: DeliveryErrorKind, detail?: string | number);
  readonly kind: DeliveryErrorKind;
  /** The exit reason (terminated), the callee's text (remote), the reason (not-allowed), the limit (payload-too-large), the complaint (decode). */
  readonly detail: string | number | undefined;
}

/** `spawn` failed. */
export class SpawnError extends Error {
  constructor(kind: 'unknown-behaviour' | 'limit-reached' | 'init-failed', detail?: string);
  readonly kind: 'unknown-behaviour' | 'limit-reached' | 'init-failed';
  readonly detail: string | undefined;
}

/** `register` failed: `taken` (detail: the holder) or `invalid`. */
export class RegisterError extends Error {
  constructor(kind: 'taken' | 'invalid', detail?: Pid | string);
  readonly kind: 'taken' | 'invalid';
  readonly detail: Pid | string | undefined;
}

/** Names one actor process, anywhere in a cluster (id 0: the host). */
export class Pid {
  constructor(node: string, id: number | bigint | string, creation: number | bigint | string);
  readonly node: string;
  readonly id: bigint;
  readonly creation: bigint;
  isHost(): boolean;
  equals(other: unknown): boolean;
  toString(): string;
  toJSON(): { node: string; id: string; creation: string };
  static from(value: Pid | { node: string; id: number | string | bigint; creation: number | string | bigint }): Pid;
}

/** Identifies one pending call; the top bit of idHi is its encoding. */
export class Ref {
  constructor(idHi: bigint | number | string, idLo: bigint | number | string, deadlineMs: number | bigint);
  readonly idHi: bigint;
  readonly idLo: bigint;
  readonly deadlineMs: number;
  readonly encoding: 'json' | 'native';
  readonly key: string;
  toJSON(): { idHi: string; idLo: string; deadlineMs: number };
  static from(value: Ref | object): Ref;
}

/** One pending call: who waits and for what. JSON-serialisable. */
export class Call {
  constructor(from: Pid | object, ref: Ref | object);
  readonly from: Pid;
  readonly ref: Ref;
  readonly encoding: 'json' | 'native';
  toJSON(): object;
  static from(value: Call | object): Call;
}

export class Timer {
  readonly id: number;
}

export class Monitor {
  readonly id: number;
}

/** A Pid, or a registered name (`name`, `name@node`). */
export type Address = Pid | string;

export type Outcome<R = unknown> =
  | { readonly outcome: 'reply'; readonly value: R }
  | { readonly outcome: 'defer' }
  | { readonly outcome: 'reply-and-stop'; readonly value: R }
  | { readonly outcome: 'stop'; readonly reason: string };

/** Answer the caller now and keep running. */
export function reply<R>(value: R): Outcome<R>;
/** Answer later with ctx.reply(call, value) or ctx.replyError(call, text). */
export function defer(): Outcome<never>;
/** Answer the caller, then end normally. */
export function replyAndStop<R>(value: R): Outcome<R>;
/** End without answering; the caller gets `terminated(reason)`. */
export function stop(reason: string): Outcome<never>;

export type Info =
  | { kind: 'response'; ref: Ref; value?: unknown; error?: DeliveryError }
  | { kind: 'down'; monitor: number; pid: Pid; reason: string }
  | { kind: 'exit'; pid: Pid; reason: string };

export interface CallOptions {
  /** Milliseconds; default: the host's call timeout. */
  timeoutMs?: number;
  /** A request that cannot be delivered fails at once (across hosts). */
  important?: boolean;
}

export interface SendOptions {
  encoding?: Encoding;
  /** Across hosts, return only once the message is in the mailbox. */
  important?: boolean;
}

/** The actor's handle on its host, passed to every handler. */
export class Context {
  selfPid(): Pid;

  send(to: Address, message: unknown, options?: SendOptions): void;
  sendText(to: Address, text: string, options?: { important?: boolean }): void;
  sendBytes(to: Address, bytes: Uint8Array, options?: { important?: boolean }): void;
  sendImportant(to: Address, message: unknown, options?: { encoding?: Encoding }): void;
  sendAfter(to: Address, message: unknown, delayMs: number, options?: { encoding?: Encoding }): Timer;
  cancelTimer(timer: Timer | number): boolean;

  /** A call in JSON: any typed actor (Rust, JavaScript, Python) reads it. */
  call<R = unknown>(to: Address, request: unknown, options?: CallOptions): R;
  callText(to: Address, text: string, options?: CallOptions): string;
  callBytes(to: Address, bytes: Uint8Array, options?: CallOptions): Uint8Array;
  callImportant<R = unknown>(to: Address, request: unknown, options?: { timeoutMs?: number }): R;
  callAsync(to: Address, request: unknown, options?: { encoding?: Encoding; timeoutMs?: number }): Ref;

  reply(call: Call | object, value: unknown, options?: { important?: boolean }): void;
  replyImportant(call: Call | object, value: unknown): void;
  replyError(call: Call | object, error: string): void;
  refuseRequest(call: Call | object, reason: string): void;
  isAlive(call: Call | object): boolean;
  setImportantDelivery(on: boolean): void;

  spawn(behaviour: string, args?: unknown, options?: { encoding?: Encoding }): Pid;
  spawnPool(behaviour: string, size: number, args?: unknown, options?: { encoding?: Encoding }): Pid;
  register(name: string): void;
  unregister(name: string): boolean;
  whereis(name: string): Pid | undefined;

  link(to: Pid): void;
  unlink(to: Pid): void;
  trapExits(on: boolean): void;
  monitor(to: Address): Monitor;
  demonitor(monitor: Monitor | number): boolean;

  log(level: 'trace' | 'debug' | 'info' | 'warn' | 'error', text: string): void;
  trace(text: string): void;
  debug(text: string): void;
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
}

/** Extend it; the instance is the actor's state. */
export class Actor {
  /** Default 'json'. */
  static encoding: Encoding;
  /** Default 1. */
  static stateVersion: number;
  /** Default true; false hands nothing over on reload or hibernation. */
  static stateful: boolean;
  /** Turns a state of an older stateVersion into the current shape. */
  static migrate(fromVersion: number, state: unknown): unknown;

  init(ctx: Context, args: any): void;
  handleMessage(ctx: Context, from: Pid, message: any): void;
  handleCall(ctx: Context, call: Call, request: any): Outcome;
  handleInfo(ctx: Context, info: Info): void;
  terminate(ctx: Context, reason: string): void;
  toState(): unknown;
  fromState(state: any): void;
}

export function encode(value: unknown, encoding: Encoding): Uint8Array;
export function decode(bytes: Uint8Array, encoding: Encoding): any;
