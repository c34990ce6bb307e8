import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryError } from '@wactor/guest';
import { ActorTest } from '@wactor/guest/testing';

import Stats from '../actor.js';

// The calculator's JSON face, as the Rust actor answers.
function calculator({ Divide: [a, b] }) {
  return b === 0 ? { Err: 'DivisionByZero' } : { Ok: Math.trunc(a / b) };
}

test('records numbers and asks the calculator for their mean', () => {
  const t = new ActorTest(Stats);
  t.host.answer('calculator', calculator);
  assert.deepEqual(t.callJson({ Record: 4 }).value, { Ok: 1 });
  assert.deepEqual(t.callJson({ Record: 8 }).value, { Ok: 2 });
  assert.deepEqual(t.callJson('Mean').value, { Ok: 6 });
  const [made] = t.host.calls;
  assert.equal(made.to, 'calculator');
  assert.equal(made.encoding, 'json');
  assert.deepEqual(made.payload && JSON.parse(new TextDecoder().decode(made.payload)), { Divide: [12, 2] });
});

test('the calculator typed error becomes this actor typed error', () => {
  const t = new ActorTest(Stats);
  t.host.answer('calculator', calculator);
  assert.deepEqual(t.callJson('Mean').value, { Err: 'NoData' });
});

test('a calculator that cannot be reached is an answer too', () => {
  const t = new ActorTest(Stats);
  t.host.answer('calculator', () => {
    throw new DeliveryError('timeout');
  });
  t.callJson({ Record: 1 });
  assert.deepEqual(t.callJson('Mean').value, { Err: { Unavailable: 'timeout' } });
});

test('a request of another shape is refused', () => {
  const t = new ActorTest(Stats);
  const r = t.callJson({ Record: 'four' });
  assert.equal(r.kind, 'defer');
  assert.equal(r.answered.kind, 'refused');
});
