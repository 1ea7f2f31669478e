// Who may listen, who is the sender, bad input, and catching up after a reconnect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GATEWAY, MAX_PAYLOAD, api, ask, closeAll, connectAs, conversation, next, record, register } from './helpers.mjs';

test('a non-member can neither join nor hear a conversation', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const eve = await register('Eve');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice);
  const e = await connectAs(eve);
  try {
    const heard = record(e, ['receiveMessage', 'userJoinRoom', 'userTyping']);
    const refused = next(e, 'joinRoomError');
    const ack = await ask(e, 'joinRoom', { conversationId: room });
    assert.deepEqual(ack, { success: false, message: `Conversation with ID ${room} not found`, statusCode: 404 });
    assert.deepEqual(await refused, { message: `Conversation with ID ${room} not found`, statusCode: 404, error: 'NOT_FOUND' });

    const typing = await ask(e, 'startTyping', { conversationId: room });
    assert.equal(typing.statusCode, 404);
    const send = await ask(e, 'sendMessage', { conversationId: room, content: 'let me in' });
    assert.equal(send.statusCode, 404);

    await ask(a, 'joinRoom', { conversationId: room });
    const delivered = next(a, 'receiveMessage');
    await ask(a, 'sendMessage', { conversationId: room, content: 'private' });
    await delivered;
    // Eve's socket is on the same instance and would have been reached by now.
    assert.deepEqual(heard, { receiveMessage: [], userJoinRoom: [], userTyping: [] });
  } finally {
    closeAll(a, e);
  }
});

test('the sender is the token user whatever senderId says', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice);
  try {
    await ask(a, 'joinRoom', { conversationId: room });
    const received = next(a, 'receiveMessage');
    const ack = await ask(a, 'sendMessage', { conversationId: room, content: 'who am I?', senderId: bob.id });
    assert.equal(ack.success, true);
    assert.equal((await received).senderId, alice.id);
  } finally {
    a.close();
  }
});

test('malformed and oversized payloads are refused and the connection stays usable', async () => {
  const alice = await register('Alice');
  const room = await conversation(alice, []);
  const a = await connectAs(alice);
  const b = await connectAs(alice);
  try {
    const missing = next(a, 'joinRoomError');
    const noPayload = await a.timeout(5000).emitWithAck('joinRoom');
    assert.equal(noPayload.success, false);
    assert.equal((await missing).message, 'Validation failed: Payload cannot be null or undefined');

    const emptyEvent = next(a, 'joinRoomError');
    const empty = await ask(a, 'joinRoom', {});
    const sentences = ['Conversation ID must be a valid UUID', 'Conversation ID is required'];
    assert.deepEqual(empty, {
      success: false, message: `Validation failed: ${sentences.join(', ')}`, statusCode: 400, details: sentences,
    });
    assert.deepEqual(await emptyEvent, {
      message: `Validation failed: ${sentences.join(', ')}`, statusCode: 400, error: 'BAD_REQUEST', details: sentences,
    });
    const wrongTypes = await ask(a, 'sendMessage', { conversationId: 42, content: ['not', 'text'] });
    assert.equal(wrongTypes.statusCode, 400);
    assert.match(wrongTypes.message, /Content must be a string/);
    assert.deepEqual(wrongTypes.details, ['Conversation ID must be a valid UUID', 'Content must be a string']);
    const badLimit = await ask(a, 'getMessageHistory', { conversationId: room, limit: 1000 });
    assert.equal(badLimit.message, 'Validation failed: Limit must not exceed 100');

    const tooLong = next(a, 'messageError');
    const big = await ask(a, 'sendMessage', { conversationId: room, content: 'x'.repeat(20_000) });
    assert.equal(big.statusCode, 400);
    assert.equal((await tooLong).error, 'BAD_REQUEST');

    // Still usable after all of that.
    assert.equal((await ask(a, 'joinRoom', { conversationId: room })).success, true);

    // A packet above the transport limit closes only its own connection.
    const closed = next(b, 'disconnect');
    b.emit('sendMessage', { conversationId: room, content: 'y'.repeat(MAX_PAYLOAD * 2) });
    await closed;
    const received = next(a, 'receiveMessage');
    assert.equal((await ask(a, 'sendMessage', { conversationId: room, content: 'still here' })).success, true);
    assert.equal((await received).content, 'still here');
  } finally {
    closeAll(a, b);
  }
});

test('a client that reconnects catches up on what it missed, exactly once and in order', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice);
  let b = await connectAs(bob);
  try {
    await ask(a, 'joinRoom', { conversationId: room });
    await ask(b, 'joinRoom', { conversationId: room });
    const first = next(b, 'receiveMessage');
    await ask(a, 'sendMessage', { conversationId: room, content: 'before the outage' });
    const lastSeen = (await first).seq;

    b.close();
    for (let i = 0; i < 5; i++) {
      await ask(a, 'sendMessage', { conversationId: room, content: `missed ${i}` });
    }
    await api('POST', `/conversations/${room}/messages`, alice.token, { content: 'missed over REST' });

    b = await connectAs(bob);
    await ask(b, 'joinRoom', { conversationId: room });
    const history = next(b, 'messageHistory');
    await ask(b, 'getMessageHistory', { conversationId: room, afterSeq: lastSeen });
    const { messages } = await history;
    assert.deepEqual(
      messages.map((m) => m.content),
      ['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed over REST'],
    );
    assert.deepEqual(messages.map((m) => m.seq), [2, 3, 4, 5, 6, 7]);
  } finally {
    closeAll(a, b);
  }
});

test('an unknown conversation id and a message that is not yours get clear errors', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice);
  const b = await connectAs(bob);
  try {
    const ghost = randomUUID();
    assert.equal((await ask(a, 'getMessageHistory', { conversationId: ghost })).statusCode, 404);
    await ask(a, 'joinRoom', { conversationId: room });
    const sent = await ask(a, 'sendMessage', { conversationId: room, content: 'mine' });
    const forbidden = next(b, 'updateMessageError');
    const ack = await ask(b, 'updateMessage', { messageId: sent.messageId, conversationId: room, content: 'yours now' });
    assert.equal(ack.statusCode, 403);
    assert.deepEqual(await forbidden, {
      message: 'You do not have permission to update this message', statusCode: 403, error: 'FORBIDDEN',
    });
    assert.equal((await ask(b, 'deleteMessage', { messageId: sent.messageId, conversationId: room })).statusCode, 403);
  } finally {
    closeAll(a, b);
  }
});

test('a participant who is removed leaves the room and hears no more', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice);
  const b = await connectAs(bob);
  try {
    await ask(a, 'joinRoom', { conversationId: room });
    await ask(b, 'joinRoom', { conversationId: room });
    const heard = record(b, ['receiveMessage']);
    const removed = await api('DELETE', `/conversations/${room}/participants`, alice.token, { participantsIds: [bob.id] });
    assert.equal(removed.status, 200);
    const delivered = next(a, 'receiveMessage', (m) => m.content === 'after bob left');
    await ask(a, 'sendMessage', { conversationId: room, content: 'after bob left' });
    await delivered;
    assert.deepEqual(heard.receiveMessage, [], 'bob no longer hears the conversation');
    assert.equal((await ask(b, 'joinRoom', { conversationId: room })).statusCode, 404);
  } finally {
    closeAll(a, b);
  }
});
