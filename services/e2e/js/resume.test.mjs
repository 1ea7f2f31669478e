// Resuming with the official client, as the README's recipe does: remember the last seq, reconnect the
// same socket object, rejoin with afterSeq; what was missed arrives first, in order, then live messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GATEWAY, api, ask, closeAll, connectAs, conversation, next, register,
} from './helpers.mjs';

async function send(user, room, content) {
  const { status, body } = await api('POST', `/conversations/${room}/messages`, user.token, { content });
  assert.equal(status, 201, JSON.stringify(body));
  return body.seq;
}

test('a client that reconnects and rejoins with afterSeq gets what it missed, then live, once', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const b = await connectAs(bob, GATEWAY);
  try {
    const order = [];
    let lastSeq = 0;
    b.on('receiveMessage', (m) => {
      order.push(m.seq);
      lastSeq = Math.max(lastSeq, m.seq);
    });
    b.on('joinRoomSuccess', () => order.push('joined'));

    const first = await ask(b, 'joinRoom', { conversationId: room });
    assert.deepEqual(first, { success: true, conversationId: room, latestSeq: 0 });
    const got = next(b, 'receiveMessage');
    await send(alice, room, 'before');
    await got;

    b.disconnect();
    for (const content of ['one', 'two', 'three']) await send(alice, room, content);

    // The same socket object reconnects and rejoins where it left off.
    const reconnected = next(b, 'connect');
    b.connect();
    await reconnected;
    order.length = 0;
    const ack = await ask(b, 'joinRoom', { conversationId: room, afterSeq: lastSeq });
    assert.deepEqual(ack, { success: true, conversationId: room, latestSeq: 4 });
    assert.deepEqual(order, [2, 3, 4, 'joined'], 'the missed messages, in order, before joinRoomSuccess');

    const live = next(b, 'receiveMessage');
    assert.equal(await send(alice, room, 'live'), 5);
    assert.equal((await live).seq, 5);
    assert.deepEqual(order, [2, 3, 4, 'joined', 5], 'nothing twice');

    const refused = next(b, 'joinRoomError');
    const bad = await ask(b, 'joinRoom', { conversationId: room, afterSeq: -1 });
    assert.equal(bad.success, false);
    assert.deepEqual((await refused).details, ['After sequence must be at least 0']);
  } finally {
    closeAll(b);
  }
});
