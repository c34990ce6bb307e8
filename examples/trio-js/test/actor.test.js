import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryError } from '@wactor/guest';
import { ActorTest } from '@wactor/guest/testing';

import Trio from '../actor.js';

test('asks trio-py in JSON and names itself in the answer', () => {
  const t = new ActorTest(Trio);
  t.host.answer('trio-py', (req) => `trio-py > echo: ${req.Relay}`);
  assert.equal(t.call('hello').value, 'trio-js > trio-py > echo: hello');
  assert.equal(t.host.calls[0].encoding, 'json');
});

test('a failed hop is named with its kind', () => {
  const t = new ActorTest(Trio);
  t.host.answer('trio-py', () => {
    throw new DeliveryError('terminated', 'trap');
  });
  assert.equal(t.call('hello').value, 'trio-js > trio-py failed (terminated): trap');
});
