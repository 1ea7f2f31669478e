// The handshake: each place a token may come from, and each refusal sentence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GATEWAY, connect, register, sign } from './helpers.mjs';

test('a token is accepted from auth.token, the query string and the Authorization header', async () => {
  const alice = await register('Alice');
  const viaAuth = await connect(GATEWAY, { auth: { token: alice.token } });
  const viaQuery = await connect(GATEWAY, { query: { token: alice.token } });
  const viaHeader = await connect(GATEWAY, { extraHeaders: { Authorization: `Bearer ${alice.token}` } });
  for (const socket of [viaAuth, viaQuery, viaHeader]) {
    assert.ok(socket.connected);
    socket.close();
  }
});

test('refusals carry the original sentences', async () => {
  const now = Math.floor(Date.now() / 1000);
  const refusal = (options) => connect(GATEWAY, options).then(
    (socket) => { socket.close(); return 'connected'; },
    (error) => error.message,
  );
  assert.equal(await refusal({}), 'Authentication failed - token missing');
  const noUser = sign({ iat: now, exp: now + 60, iss: 'junqo-auth' });
  assert.equal(await refusal({ auth: { token: noUser } }), 'Authentication failed - invalid token payload');
  const expired = sign({
    sub: randomUUID(), userName: 'Old', userType: 'STUDENT', email: 'old@example.com',
    iat: now - 120, exp: now - 60, iss: 'junqo-auth',
  });
  assert.equal(await refusal({ auth: { token: expired } }), 'Authentication failed - invalid token');
  assert.equal(await refusal({ auth: { token: 'not.a.token' } }), 'Authentication failed - invalid token');
  // A service token (signed with the same secret, for internal gRPC only) is no client's credential.
  const internal = sign({ service: 'realtime', sub: randomUUID(), iat: now, exp: now + 60, iss: 'junqo-internal' });
  assert.equal(await refusal({ auth: { token: internal } }), 'Authentication failed - invalid token');
  const alice = await register('Alice');
  const forged = `${alice.token.slice(0, alice.token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
  assert.equal(await refusal({ query: { token: forged } }), 'Authentication failed - invalid token');
});
