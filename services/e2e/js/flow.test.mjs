// The seed's sequence diagram, end to end: join, send, receive on both sides, history, typing, read,
// leave, and the status of a user who disconnects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GATEWAY, TYPING_TIMEOUT, WITHIN, ask, closeAll, connectAs, conversation, next, register,
} from './helpers.mjs';

test('two participants chat as in the seed diagram', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice, GATEWAY);
  const b = await connectAs(bob, GATEWAY);
  try {
    const joinedA = next(a, 'joinRoomSuccess');
    assert.deepEqual(await ask(a, 'joinRoom', { conversationId: room }), { success: true, conversationId: room, latestSeq: 0 });
    assert.deepEqual(await joinedA, { conversationId: room });

    const aSeesBobJoin = next(a, 'userJoinRoom', (n) => n.userId === bob.id);
    assert.equal((await ask(b, 'joinRoom', { conversationId: room })).success, true);
    const notice = await aSeesBobJoin;
    assert.equal(notice.roomId, room);
    assert.ok(!Number.isNaN(Date.parse(notice.timestamp)));

    // Typing reaches the others, under both names, and stops.
    const typing = next(b, 'userTyping', (t) => t.userId === alice.id);
    const typingWeb = next(b, 'userStartTyping', (t) => t.userId === alice.id);
    assert.deepEqual(await ask(a, 'startTyping', { conversationId: room }), { success: true });
    assert.equal((await typing).conversationId, room);
    await typingWeb;
    const stopped = next(b, 'userStoppedTyping', (t) => t.userId === alice.id);
    const stoppedWeb = next(b, 'userStopTyping', (t) => t.userId === alice.id);
    await ask(a, 'stopTyping', { conversationId: room });
    await Promise.all([stopped, stoppedWeb]);

    // Typing stops by itself after the timeout.
    const expired = next(b, 'userStopTyping', (t) => t.userId === alice.id, TYPING_TIMEOUT + WITHIN);
    await ask(a, 'startTyping', { conversationId: room });
    await expired;

    // A message reaches both sides, sender included.
    const atA = next(a, 'receiveMessage');
    const atB = next(b, 'receiveMessage');
    const ack = await ask(a, 'sendMessage', { conversationId: room, content: 'Hello Bob' });
    assert.equal(ack.success, true);
    const [ma, mb] = await Promise.all([atA, atB]);
    assert.deepEqual(ma, mb);
    assert.equal(mb.id, ack.messageId);
    assert.equal(mb.senderId, alice.id);
    assert.equal(mb.conversationId, room);
    assert.equal(mb.content, 'Hello Bob');
    assert.deepEqual(mb.readStatus, []);
    assert.equal(mb.seq, 1);

    // History.
    const history = next(b, 'messageHistory');
    assert.deepEqual(await ask(b, 'getMessageHistory', { conversationId: room }), { success: true });
    const page = await history;
    assert.equal(page.conversationId, room);
    assert.equal(page.count, 1);
    assert.equal(page.messages[0].id, mb.id);

    // Read receipt, seen by the room.
    const read = next(a, 'messageRead', (r) => r.messageId === mb.id);
    await ask(b, 'markMessageRead', { messageId: mb.id, conversationId: room });
    const receipt = await read;
    assert.equal(receipt.userId, bob.id);
    assert.equal(receipt.conversationId, room);

    // Edit and delete by the sender.
    const updated = next(b, 'messageUpdated', (m) => m.id === mb.id);
    const updateOk = next(a, 'updateMessageSuccess');
    await ask(a, 'updateMessage', { messageId: mb.id, conversationId: room, content: 'Hello, Bob!' });
    assert.equal((await updated).content, 'Hello, Bob!');
    assert.deepEqual(await updateOk, { messageId: mb.id });
    const deleted = next(b, 'messageDeleted', (d) => d.messageId === mb.id);
    await ask(a, 'deleteMessage', { messageId: mb.id, conversationId: room });
    const gone = await deleted;
    assert.equal(gone.conversationId, room);
    assert.equal(gone.deletedBy, alice.id);

    // Leaving, then disconnecting: bob sees both.
    const leftNotice = next(b, 'userLeaveRoom', (n) => n.userId === alice.id);
    const leftOk = next(a, 'leaveRoomSuccess');
    await ask(a, 'leaveRoom', { conversationId: room });
    assert.deepEqual(await leftOk, { conversationId: room });
    await leftNotice;
    const offline = next(b, 'userStatus', (s) => s.userId === alice.id && s.status === 'offline');
    a.close();
    await offline;

    const online = next(b, 'userStatus', (s) => s.userId === alice.id && s.status === 'online');
    const again = await connectAs(alice, GATEWAY);
    await online;
    again.close();
  } finally {
    closeAll(a, b);
  }
});

test('getOnlineUsers lists the participants who are online', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const carol = await register('Carol');
  const room = await conversation(alice, [bob, carol]);
  const a = await connectAs(alice, GATEWAY);
  const b = await connectAs(bob, GATEWAY);
  try {
    const answer = next(a, 'onlineUsers');
    await ask(a, 'getOnlineUsers', { conversationId: room });
    const online = await answer;
    assert.equal(online.conversationId, room);
    assert.deepEqual(new Set(online.users), new Set([alice.id, bob.id]));
  } finally {
    closeAll(a, b);
  }
});
