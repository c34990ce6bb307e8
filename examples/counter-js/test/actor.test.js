import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActorTest } from '@wactor/guest/testing';

import Counter from '../actor.js';

test('inc answers the new count and get reads it', () => {
  const t = new ActorTest(Counter);
  assert.equal(t.call('inc').value, '1');
  assert.equal(t.call('inc').value, '2');
  assert.equal(t.call('get').value, '2');
});

test('the count survives a reload and hibernation', () => {
  let t = new ActorTest(Counter);
  t.call('inc');
  t.call('inc');
  t = t.reload();
  assert.equal(t.call('inc').value, '3');
  t = t.hibernate();
  assert.equal(t.call('get').value, '3');
});

test('an unknown request is refused and the count kept', () => {
  const t = new ActorTest(Counter);
  t.call('inc');
  const result = t.call('dec');
  assert.equal(result.kind, 'defer');
  assert.equal(result.answered.kind, 'refused');
  assert.match(result.answered.text, /expected `inc` or `get`/);
  assert.equal(t.call('get').value, '1');
});

test('a message counts too', () => {
  const t = new ActorTest(Counter);
  t.send('inc');
  assert.equal(t.call('get').value, '1');
});
