// Socket event limits and caps, with the official client. Run by tests/socket_limits.rs against a stack
// of its own (default event rates; small caps), not by the shared `node --test` run: a flood there would
// only slow the other files down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ask, closeAll, connectAs, conversation, next, register, REALTIME_A, WITHIN,
} from './helpers.mjs';

const MAX_SOCKETS = Number(process.env.SOCKET_MAX_PER_USER);
const MAX_ROOMS = Number(process.env.SOCKET_MAX_ROOMS);

test('a flooding socket meets 429 with retryAfterMs, stays connected, and others are still delivered', async () => {
  const [flooder, alice, bob] = await Promise.all([
    register('Flooder'), register('Alice'), register('Bob'),
  ]);
  const shared = await conversation(flooder, [alice, bob]);
  const theirs = await conversation(alice, [bob]);
  const f = await connectAs(flooder);
  const a = await connectAs(alice);
  const b = await connectAs(bob, REALTIME_A);
  try {
    await ask(f, 'joinRoom', { conversationId: shared });
    await ask(a, 'joinRoom', { conversationId: theirs });
    await ask(b, 'joinRoom', { conversationId: theirs });
    const refusals = [];
    f.on('messageError', (error) => refusals.push(error));

    // 60 at once: the burst of 30 goes through, the rest is refused.
    const acks = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      ask(f, 'sendMessage', { conversationId: shared, content: `flood ${i}` })));
    const accepted = acks.filter((ack) => ack.success === true);
    const refused = acks.filter((ack) => ack.success === false);
    // The burst, plus what refills (10 a second) while a busy machine takes the 60 in.
    assert.ok(accepted.length >= 30 && accepted.length <= 45, `${accepted.length} accepted`);
    assert.ok(refused.length >= 15, `${refused.length} refused`);
    for (const ack of refused) {
      assert.equal(ack.statusCode, 429);
      assert.equal(ack.message, 'Too many requests, slow down');
      assert.ok(Number.isInteger(ack.retryAfterMs) && ack.retryAfterMs > 0 && ack.retryAfterMs <= 100,
        JSON.stringify(ack));
    }
    assert.equal(refusals.length, refused.length, 'each refusal also comes as messageError');
    assert.equal(refusals[0].statusCode, 429);
    assert.equal(refusals[0].error, 'TOO_MANY_REQUESTS');
    assert.ok(f.connected, 'the connection stays open');

    // Someone else's conversation is unaffected.
    const delivered = next(b, 'receiveMessage', (m) => m.content === 'still here');
    const sent = await ask(a, 'sendMessage', { conversationId: theirs, content: 'still here' });
    assert.equal(sent.success, true);
    await delivered;

    // The flooder waits as told, and may send again.
    await sleep(Math.max(...refused.map((ack) => ack.retryAfterMs)));
    const again = await ask(f, 'sendMessage', { conversationId: shared, content: 'after waiting' });
    assert.equal(again.success, true, JSON.stringify(again));
  } finally {
    closeAll(f, a, b);
  }
});

test('all sockets of a user share one allowance', async () => {
  const [carol, dave] = await Promise.all([register('Carol'), register('Dave')]);
  const room = await conversation(carol, [dave]);
  const first = await connectAs(carol);
  const second = await connectAs(carol, REALTIME_A);
  try {
    // getMessageHistory: 5 a second per user, whichever socket asks.
    const acks = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      ask(i % 2 ? first : second, 'getMessageHistory', { conversationId: room })));
    // Apart, each socket would have had 5; together about 5 pass (one more may refill meanwhile).
    const refused = acks.filter((ack) => ack.statusCode === 429).length;
    assert.ok(refused >= 3, JSON.stringify(acks));
  } finally {
    closeAll(first, second);
  }
});

test('a socket that keeps flooding far past its limit is disconnected', async () => {
  const [eve, frank] = await Promise.all([register('Eve'), register('Frank')]);
  const room = await conversation(eve, [frank]);
  const e = await connectAs(eve);
  try {
    const gone = next(e, 'disconnect');
    // startTyping allows 2 a second per conversation; refusals past 50 in a burst mean flooding.
    for (let i = 0; i < 200; i++) e.emit('startTyping', { conversationId: room });
    // The server disconnects it: with a disconnect packet, or, when the flood's refusals have filled the
    // socket's outgoing buffer and the packet cannot be queued, by closing the transport (adapter.rs).
    // The client closed nothing either way.
    assert.ok(['io server disconnect', 'transport close'].includes(await gone));
  } finally {
    closeAll(e);
  }
});

test('sockets per user are capped, and a freed place can be taken again', async () => {
  const grace = await register('Grace');
  const sockets = [];
  try {
    for (let i = 0; i < MAX_SOCKETS; i++) sockets.push(await connectAs(grace));
    await assert.rejects(connectAs(grace), { message: 'Too many connections for this user; close one first' });
    const closing = sockets.pop();
    closing.close();
    // The place frees when the server notices; retry until it has.
    const deadline = Date.now() + WITHIN;
    for (;;) {
      try {
        sockets.push(await connectAs(grace));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(50);
      }
    }
  } finally {
    closeAll(...sockets);
  }
});

test('rooms per socket are capped with a 400 that says what to do', async () => {
  const heidi = await register('Heidi');
  const rooms = [];
  for (let i = 0; i <= MAX_ROOMS; i++) rooms.push(await conversation(heidi, [await register(`Other${i}`)]));
  const h = await connectAs(heidi);
  try {
    for (const room of rooms.slice(0, MAX_ROOMS)) {
      assert.equal((await ask(h, 'joinRoom', { conversationId: room })).success, true);
    }
    const over = await ask(h, 'joinRoom', { conversationId: rooms[MAX_ROOMS] });
    assert.deepEqual(over, {
      success: false,
      statusCode: 400,
      message: `A connection can be in at most ${MAX_ROOMS} conversations; leave one first`,
    });
    await ask(h, 'leaveRoom', { conversationId: rooms[0] });
    assert.equal((await ask(h, 'joinRoom', { conversationId: rooms[MAX_ROOMS] })).success, true);
  } finally {
    closeAll(h);
  }
});
