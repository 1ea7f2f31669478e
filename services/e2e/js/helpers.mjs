// Shared by the end-to-end tests: the stack's addresses, REST calls through the gateway, Socket.IO
// connections, and waiting for events (never sleeping in place of an event).
import { createHmac, randomUUID } from 'node:crypto';
import { io } from 'socket.io-client';

export const GATEWAY = process.env.GATEWAY_URL;
export const REALTIME_A = process.env.REALTIME_A_URL;
export const REALTIME_B = process.env.REALTIME_B_URL;
export const PING_INTERVAL = Number(process.env.PING_INTERVAL_MS);
export const PING_TIMEOUT = Number(process.env.PING_TIMEOUT_MS);
export const MAX_PAYLOAD = Number(process.env.MAX_PAYLOAD_BYTES);
/** The server's typing timeout (TYPING_TIMEOUT_MS), 5 s unless the harness shortened it. */
export const TYPING_TIMEOUT = Number(process.env.TYPING_TIMEOUT_MS ?? 5000);
const SECRET = process.env.JWT_SECRET;
if (!GATEWAY || !REALTIME_A || !REALTIME_B || !SECRET) {
  throw new Error('run through `cargo test -p e2e`, which starts the stack and sets the addresses');
}

/** How long any expected event may take before a test fails. */
export const WITHIN = 5000;

export async function api(method, path, token, body) {
  const response = await fetch(`${GATEWAY}/api/v1${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Registers a student; returns {token, id, name}. */
export async function register(name) {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const { status, body } = await api('POST', '/auth/register', null, {
    name, email, type: 'STUDENT', password: 'password123',
  });
  if (status !== 201) throw new Error(`register failed: ${status} ${JSON.stringify(body)}`);
  return { token: body.token, id: body.user.id, name };
}

export async function conversation(owner, others) {
  const { status, body } = await api('POST', '/conversations', owner.token, {
    participantsIds: others.map((u) => u.id),
  });
  if (status !== 201) throw new Error(`create conversation failed: ${status} ${JSON.stringify(body)}`);
  return body.id;
}

/** A connected socket (rejects with the connect_error message if refused). */
export function connect(url, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: WITHIN, ...options });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
  });
}

export function connectAs(user, url = GATEWAY, options = {}) {
  return connect(url, { auth: { token: user.token }, ...options });
}

/** The next `event` on `socket` whose payload satisfies `accept`. */
export function next(socket, event, accept = () => true, within = WITHIN) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no ${event} within ${within} ms`));
    }, within);
    const listener = (...args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(args[0]);
    };
    socket.on(event, listener);
  });
}

/** Emits with an ack and resolves with the ack's payload. */
export function ask(socket, event, payload) {
  return socket.timeout(WITHIN).emitWithAck(event, payload);
}

/** Records every occurrence of the events on a socket, to check later what arrived (or did not). */
export function record(socket, events) {
  const seen = Object.fromEntries(events.map((e) => [e, []]));
  for (const event of events) socket.on(event, (payload) => seen[event].push(payload));
  return seen;
}

/** An HS256 token signed with the stack's secret, with any claims: for handshake refusals. */
export function sign(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const head = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  const signature = createHmac('sha256', SECRET).update(head).digest('base64url');
  return `${head}.${signature}`;
}

export function closeAll(...sockets) {
  for (const socket of sockets) socket?.close();
}
