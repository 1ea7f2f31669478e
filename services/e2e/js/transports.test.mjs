// The protocol as Socket.IO v4 / Engine.IO v4 define it, with the official client: both transports and
// the upgrade between them, acks, binary attachments, heartbeats, and a silent client being dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  GATEWAY, PING_INTERVAL, PING_TIMEOUT, REALTIME_A, ask, closeAll, connectAs, conversation, next, register,
} from './helpers.mjs';

/** Resolves after the engine has answered `count` heartbeats. */
function heartbeats(socket, count) {
  return new Promise((resolve) => {
    let seen = 0;
    socket.io.engine.on('ping', () => { if (++seen === count) resolve(); });
  });
}

for (const [name, options] of [
  ['polling only', { transports: ['polling'] }],
  ['websocket only', { transports: ['websocket'] }],
  ['polling upgraded to websocket', { transports: ['polling', 'websocket'] }],
]) {
  test(`${name}: acks, binary attachments and heartbeats work through the gateway`, async () => {
    const alice = await register('Alice');
    const room = await conversation(alice, []);
    const socket = await connectAs(alice, GATEWAY, options);
    try {
      if (name.includes('upgraded')) {
        if (socket.io.engine.transport.name !== 'websocket') {
          await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
        }
      }
      const expected = name === 'polling only' ? 'polling' : 'websocket';
      assert.equal(socket.io.engine.transport.name, expected);

      await ask(socket, 'joinRoom', { conversationId: room });
      const received = next(socket, 'receiveMessage');
      const ack = await ask(socket, 'sendMessage', {
        conversationId: room, content: `over ${name}`, attachment: Buffer.from([1, 2, 3]),
      });
      assert.equal(ack.success, true, JSON.stringify(ack));
      assert.equal((await received).content, `over ${name}`);

      await heartbeats(socket, 3);
      assert.ok(socket.connected, 'still connected after three heartbeats');
      assert.equal((await ask(socket, 'stopTyping', { conversationId: room })).success, true);
    } finally {
      socket.close();
    }
  });
}

test('a client that stops answering pings is dropped and goes offline', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  await conversation(alice, [bob]);
  const watcher = await connectAs(alice, REALTIME_A);
  try {
    const online = next(watcher, 'userStatus', (s) => s.userId === bob.id && s.status === 'online');
    const offline = next(
      watcher, 'userStatus', (s) => s.userId === bob.id && s.status === 'offline',
      PING_INTERVAL + PING_TIMEOUT + 5000,
    );
    // A raw Engine.IO client that opens the namespace and then ignores every ping.
    const url = `${REALTIME_A.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&token=${bob.token}`;
    const raw = new WebSocket(url);
    const closed = new Promise((resolve) => raw.on('close', resolve));
    raw.on('message', (data) => {
      if (data.toString().startsWith('0')) raw.send('40');
    });
    await online;
    await offline;
    await closed;
  } finally {
    closeAll(watcher);
  }
});
