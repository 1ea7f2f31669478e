// Sockets end with their token: a revoked token (logout, logout-all, a password change, a deleted
// account) and an expired one each lose their live sockets within a second, on every realtime instance;
// REST answers 401 within the same second. A client reconnects with a fresh token as the README says:
// `socket.auth = { token }` then `socket.connect()`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GATEWAY, REALTIME_B, api, ask, closeAll, connect, connectAs, conversation, next, register, sign,
} from './helpers.mjs';

/** The revocation's promise: within one second. */
const SECOND = 1000;

/** Resolves with the disconnect reason and how long after `since` it came; rejects after `within`. */
function disconnected(socket, since, within = SECOND) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still connected after ${within} ms`)), within);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve({ reason, after: Date.now() - since });
    });
  });
}

/** Polls `GET /users/me` with the token until it answers `status`, for at most `within`. */
async function restAnswers(token, status, within = SECOND) {
  const deadline = Date.now() + within;
  for (;;) {
    const answer = await api('GET', '/users/me', token);
    if (answer.status === status) return answer;
    if (Date.now() >= deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function login(email, password = 'password123') {
  const { status, body } = await api('POST', '/auth/login', null, { email, password });
  assert.equal(status, 200, JSON.stringify(body));
  return body.token;
}

async function me(token) {
  return (await api('GET', '/users/me', token)).body;
}

test('logout ends the sockets of that token only, on every instance, and its REST calls', async () => {
  const alice = await register('Alice');
  const { email } = await me(alice.token);
  const other = await login(email);
  const onA = await connectAs(alice, GATEWAY);
  const onB = await connectAs(alice, REALTIME_B);
  const kept = await connect(GATEWAY, { auth: { token: other } });
  try {
    const since = Date.now();
    const endA = disconnected(onA, since);
    const endB = disconnected(onB, since);
    assert.deepEqual((await api('POST', '/auth/logout', alice.token)).body, { isSuccessful: true });
    for (const end of await Promise.all([endA, endB])) {
      assert.equal(end.reason, 'io server disconnect');
      assert.ok(end.after <= SECOND, `disconnected after ${end.after} ms`);
    }
    assert.equal((await restAnswers(alice.token, 401)).status, 401);
    assert.ok(kept.connected, 'another token of the same user keeps its socket');
    assert.equal((await api('GET', '/users/me', other)).status, 200);

    // The revoked token is refused at the handshake as any invalid token.
    await assert.rejects(connectAs(alice, GATEWAY), { message: 'Authentication failed - invalid token' });
  } finally {
    closeAll(onA, onB, kept);
  }
});

test('logout-all ends every socket of the user; a fresh sign-in reconnects the same socket', async () => {
  const alice = await register('Alice');
  const { email } = await me(alice.token);
  const other = await login(email);
  const first = await connectAs(alice, GATEWAY);
  const second = await connect(REALTIME_B, { auth: { token: other } });
  try {
    const since = Date.now();
    const ends = [disconnected(first, since), disconnected(second, since)];
    assert.deepEqual((await api('POST', '/auth/logout-all', other)).body, { isSuccessful: true });
    for (const end of await Promise.all(ends)) assert.equal(end.reason, 'io server disconnect');
    assert.equal((await restAnswers(alice.token, 401)).status, 401);
    assert.equal((await restAnswers(other, 401)).status, 401);

    // The README's reconnection: a fresh token on the same client object.
    first.auth = { token: await login(email) };
    const back = next(first, 'connect');
    first.connect();
    await back;
    assert.ok(first.connected);
  } finally {
    closeAll(first, second);
  }
});

test('a password change ends the other sessions and needs the current password', async () => {
  const alice = await register('Alice');
  const { email } = await me(alice.token);
  const socket = await connectAs(alice, GATEWAY);
  try {
    const missing = await api('PATCH', '/users/me', alice.token, { password: 'new-password-1' });
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body.message, ['currentPassword is required to change the email or password']);
    const wrong = await api('PATCH', '/users/me', alice.token, {
      password: 'new-password-1', currentPassword: 'not-it-at-all',
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.message, 'Current password is incorrect');
    assert.ok(socket.connected, 'a refused change ends nothing');

    const since = Date.now();
    const end = disconnected(socket, since);
    const changed = await api('PATCH', '/users/me', alice.token, {
      password: 'new-password-1', currentPassword: 'password123',
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.email, email);
    assert.equal(typeof changed.body.token, 'string');
    assert.equal((await end).reason, 'io server disconnect');
    assert.equal((await restAnswers(alice.token, 401)).status, 401);
    assert.equal((await api('GET', '/users/me', changed.body.token)).status, 200);
    const fresh = await connect(GATEWAY, { auth: { token: changed.body.token } });
    fresh.close();
  } finally {
    closeAll(socket);
  }
});

test('a deleted account loses its sockets and leaves its conversations; its messages stay', async () => {
  const alice = await register('Alice');
  const bob = await register('Bob');
  const room = await conversation(alice, [bob]);
  const a = await connectAs(alice, GATEWAY);
  const b = await connectAs(bob, REALTIME_B);
  try {
    assert.equal((await ask(a, 'joinRoom', { conversationId: room })).success, true);
    assert.equal((await ask(b, 'joinRoom', { conversationId: room })).success, true);
    const sent = await ask(a, 'sendMessage', { conversationId: room, content: 'Goodbye' });
    assert.equal(sent.success, true);

    const since = Date.now();
    const end = disconnected(a, since);
    assert.equal((await api('DELETE', '/users/me', alice.token)).status, 200);
    assert.equal((await end).reason, 'io server disconnect');
    assert.equal((await restAnswers(alice.token, 401)).status, 401);

    // Bob's view: Alice is no longer a participant, and her message is still hers.
    const deadline = Date.now() + 5000;
    let participants;
    do {
      participants = (await api('GET', `/conversations/${room}`, bob.token)).body.participantsIds;
      if (!participants.includes(alice.id)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (Date.now() < deadline);
    assert.deepEqual(participants, [bob.id]);
    const history = (await api('GET', `/conversations/${room}/messages`, bob.token)).body;
    assert.equal(history.rows.length, 1);
    assert.equal(history.rows[0].id, sent.messageId);
    assert.equal(history.rows[0].senderId, alice.id);
  } finally {
    closeAll(a, b);
  }
});

test('a socket is disconnected when its token expires', async () => {
  const alice = await register('Alice');
  const profile = await me(alice.token);
  const now = Math.floor(Date.now() / 1000);
  const exp = now + 2;
  const shortLived = sign({
    sub: alice.id, userName: profile.name, userType: profile.type, email: profile.email,
    iat: now, exp, iss: 'junqo-auth',
  });
  const socket = await connect(GATEWAY, { auth: { token: shortLived } });
  try {
    const end = await disconnected(socket, exp * 1000, 5000);
    assert.equal(end.reason, 'io server disconnect');
    // Not before the token's exp, and within a second of it.
    assert.ok(end.after >= -50 && end.after <= SECOND, `disconnected ${end.after} ms after exp`);
  } finally {
    closeAll(socket);
  }
});

test('a token not valid yet (nbf) is refused at the handshake and over REST', async () => {
  const alice = await register('Alice');
  const profile = await me(alice.token);
  const now = Math.floor(Date.now() / 1000);
  const early = sign({
    sub: alice.id, userName: profile.name, userType: profile.type, email: profile.email,
    iat: now, nbf: now + 60, exp: now + 3600, iss: 'junqo-auth',
  });
  await assert.rejects(connect(GATEWAY, { auth: { token: early } }), {
    message: 'Authentication failed - invalid token',
  });
  assert.equal((await api('GET', '/users/me', early)).status, 401);
});
