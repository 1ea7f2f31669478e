// Two realtime instances behave as one: messages, typing and presence cross between them, and a message
// posted over REST reaches live sockets on both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REALTIME_A, REALTIME_B, api, ask, closeAll, connectAs, conversation, next, register } from './helpers.mjs';

test('a member on instance A hears a member on instance B, and a message posted over REST', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice, REALTIME_A);
  const bobOnline = next(a, 'userStatus', (s) => s.userId === bob.id && s.status === 'online');
  const b = await connectAs(bob, REALTIME_B);
  try {
    await bobOnline; // presence crossed from B to A
    await ask(a, 'joinRoom', { conversationId: room });
    const bobJoined = next(a, 'userJoinRoom', (n) => n.userId === bob.id);
    await ask(b, 'joinRoom', { conversationId: room });
    await bobJoined;

    const fromB = next(a, 'receiveMessage', (m) => m.content === 'sent on B');
    await ask(b, 'sendMessage', { conversationId: room, content: 'sent on B' });
    assert.equal((await fromB).senderId, bob.id);

    const typing = next(b, 'userTyping', (t) => t.userId === alice.id);
    await ask(a, 'startTyping', { conversationId: room });
    await typing;

    const restAtA = next(a, 'receiveMessage', (m) => m.content === 'posted over REST');
    const restAtB = next(b, 'receiveMessage', (m) => m.content === 'posted over REST');
    const posted = await api('POST', `/conversations/${room}/messages`, alice.token, { content: 'posted over REST' });
    assert.equal(posted.status, 201);
    const [atA, atB] = await Promise.all([restAtA, restAtB]);
    assert.equal(atA.id, posted.body.id);
    assert.deepEqual(atA, atB);
    assert.deepEqual(atA, posted.body, 'the socket and REST shapes of a message are the same');

    const bobOffline = next(a, 'userStatus', (s) => s.userId === bob.id && s.status === 'offline');
    b.close();
    await bobOffline;
  } finally {
    closeAll(a, b);
  }
});

test('a user online on two instances goes offline only when the last socket leaves', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const watcher = await connectAs(alice, REALTIME_A);
  const online = next(watcher, 'userStatus', (s) => s.userId === bob.id && s.status === 'online');
  const onA = await connectAs(bob, REALTIME_A);
  await online;
  const onB = await connectAs(bob, REALTIME_B);
  try {
    await ask(watcher, 'joinRoom', { conversationId: room });
    await ask(onA, 'joinRoom', { conversationId: room });
    const statuses = [];
    watcher.on('userStatus', (s) => { if (s.userId === bob.id) statuses.push(s.status); });
    // A socket's departure announces presence before its room notices, so once the watcher hears that
    // bob left the room, the presence change of that socket has been applied too.
    const left = next(watcher, 'userLeaveRoom', (n) => n.userId === bob.id);
    onA.close();
    await left;
    assert.deepEqual(statuses, [], 'no offline while bob still has a socket on B');
    const offline = next(watcher, 'userStatus', (s) => s.userId === bob.id && s.status === 'offline');
    onB.close();
    await offline;
  } finally {
    closeAll(watcher, onA, onB);
  }
});
