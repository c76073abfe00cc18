// Fakes of the chat platforms that cannot run here, in one scripted HTTP + WebSocket server,
// faithful to their published APIs in what Hearth uses:
//
// Discord (https://discord.com/developers/docs): under /discord
//   REST /api/v10: GET /gateway/bot, POST /channels/:id/messages (Authorization: Bot …),
//   POST /channels/:id/typing, POST /users/@me/channels; 429 with a JSON retry_after and
//   the X-RateLimit-* headers when flooded.
//   Gateway (WebSocket /gateway): op 10 Hello, op 2 Identify -> READY (session_id,
//   resume_gateway_url), op 1 heartbeats -> op 11 ACK, op 6 Resume -> the missed
//   dispatches replayed then RESUMED, op 7 Reconnect on request, close 4004 for a bad token.
// Slack (https://api.slack.com/apis/socket-mode): under /slack
//   Web API /api: apps.connections.open (app token), auth.test, chat.postMessage (bot token,
//   429 with Retry-After when flooded).
//   Socket Mode (WebSocket /socket): hello, events_api envelopes that must be acked with
//   {"envelope_id"}; an envelope not acked is sent again on the next connection with
//   retry_attempt + 1; disconnect on request.
//
// Control (for the tests): POST /kit/discord/message, /kit/discord/reconnect,
// /kit/slack/event, /kit/slack/disconnect, /kit/flood?platform=&n=&retry_after=;
// GET /kit/calls (every REST call made, in order).
// Usage: NODE_PATH=<node_modules> node tests/kit/chat-fakes.js; prints the port.
'use strict';
const http = require('http');
const express = require('express');
const { WebSocketServer } = require('ws');

const DISCORD_TOKEN = 'discord-bot-token';
const DISCORD_BOT = { id: '900000000000000001', username: 'hearth', bot: true };
const SLACK_APP = 'xapp-1-test';
const SLACK_BOT = 'xoxb-test';
const SLACK_BOT_USER = 'UHEARTH01';

const app = express();
app.use(express.json());
const calls = [];
const floods = { discord: { n: 0, retryAfter: 1 }, slack: { n: 0, retryAfter: 1 } };
let snowflake = 1000000000000000000n;
const nextId = () => String(++snowflake);
let port = 0;

// ---------- Discord ----------
const discord = { sessions: new Map(), sockets: new Set(), seq: 0 };
const dAuth = (req) => req.get('authorization') === `Bot ${DISCORD_TOKEN}`;
app.get('/discord/api/v10/gateway/bot', (req, res) => {
  if (!dAuth(req)) return res.status(401).json({ message: '401: Unauthorized', code: 0 });
  res.json({ url: `ws://127.0.0.1:${port}/discord/gateway`, shards: 1,
    session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 } });
});
app.post('/discord/api/v10/channels/:id/messages', (req, res) => {
  if (!dAuth(req)) return res.status(401).json({ message: '401: Unauthorized', code: 0 });
  if (floods.discord.n > 0) {
    floods.discord.n -= 1;
    res.set({ 'X-RateLimit-Limit': '5', 'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset-After': String(floods.discord.retryAfter), 'X-RateLimit-Scope': 'user' });
    return res.status(429).json({ message: 'You are being rate limited.', retry_after: floods.discord.retryAfter, global: false });
  }
  const m = { id: nextId(), channel_id: req.params.id, content: req.body.content,
    message_reference: req.body.message_reference, author: DISCORD_BOT };
  calls.push({ platform: 'discord', method: 'createMessage', body: req.body, channel: req.params.id, id: m.id, at: Date.now() });
  res.set({ 'X-RateLimit-Limit': '5', 'X-RateLimit-Remaining': '4', 'X-RateLimit-Reset-After': '1' });
  res.json(m);
});
app.post('/discord/api/v10/channels/:id/typing', (req, res) => {
  calls.push({ platform: 'discord', method: 'typing', channel: req.params.id, at: Date.now() });
  res.status(204).end();
});
app.post('/discord/api/v10/users/@me/channels', (req, res) => {
  res.json({ id: `dm-${req.body.recipient_id}`, type: 1 });
});

function dSend(ws, op, d, t) {
  const f = { op, d, s: null, t: null };
  if (op === 0) { f.s = ++ws.session.seq; f.t = t; ws.session.sent.push(f); }
  ws.send(JSON.stringify(f));
}
function dispatchAll(t, d) {
  for (const s of discord.sessions.values()) {
    const f = { op: 0, d, s: ++s.seq, t };
    s.sent.push(f);
    if (s.ws && s.ws.readyState === 1) s.ws.send(JSON.stringify(f));
  }
}
function discordSocket(ws) {
  ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 1500 }, s: null, t: null }));
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.op === 1) { ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null })); return; }
    if (m.op === 2) {
      if (m.d.token !== DISCORD_TOKEN) { ws.close(4004, 'Authentication failed.'); return; }
      const id = `sess-${nextId()}`;
      ws.session = { id, seq: 0, sent: [], ws };
      discord.sessions.set(id, ws.session);
      dSend(ws, 0, { v: 10, user: DISCORD_BOT, session_id: id, resume_gateway_url: `ws://127.0.0.1:${port}/discord/gateway`, guilds: [] }, 'READY');
      return;
    }
    if (m.op === 6) {
      const s = discord.sessions.get(m.d.session_id);
      if (!s || m.d.token !== DISCORD_TOKEN) { ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null })); return; }
      s.ws = ws; ws.session = s;
      for (const f of s.sent.filter((f) => f.s > m.d.seq)) ws.send(JSON.stringify(f));
      dSend(ws, 0, {}, 'RESUMED');
    }
  });
  ws.on('close', () => { if (ws.session && ws.session.ws === ws) ws.session.ws = null; });
}
app.post('/kit/discord/message', (req, res) => {
  const b = req.body;
  const msg = { id: nextId(), channel_id: b.channel_id, guild_id: b.guild_id, content: b.content,
    author: { id: b.author_id, username: `user${b.author_id}`, bot: false },
    mentions: (b.mentions || []).map((id) => ({ id, username: id === DISCORD_BOT.id ? 'hearth' : 'x' })),
    timestamp: new Date().toISOString(), type: 0 };
  dispatchAll('MESSAGE_CREATE', msg);
  res.json({ ok: true, id: msg.id });
});
app.post('/kit/discord/reconnect', (req, res) => {
  for (const s of discord.sessions.values()) if (s.ws) s.ws.send(JSON.stringify({ op: 7, d: null, s: null, t: null }));
  res.json({ ok: true });
});

// ---------- Slack ----------
const slack = { pending: [], sockets: new Set() }; // envelopes not acked yet
const sAuth = (req, tok) => req.get('authorization') === `Bearer ${tok}`;
app.post('/slack/api/apps.connections.open', (req, res) => {
  if (!sAuth(req, SLACK_APP)) return res.json({ ok: false, error: 'invalid_auth' });
  res.json({ ok: true, url: `ws://127.0.0.1:${port}/slack/socket?ticket=${nextId()}` });
});
app.post('/slack/api/auth.test', (req, res) => {
  if (!sAuth(req, SLACK_BOT)) return res.json({ ok: false, error: 'invalid_auth' });
  res.json({ ok: true, user_id: SLACK_BOT_USER, bot_id: 'BHEARTH01', team_id: 'T1' });
});
app.post('/slack/api/chat.postMessage', (req, res) => {
  if (!sAuth(req, SLACK_BOT)) return res.json({ ok: false, error: 'invalid_auth' });
  if (floods.slack.n > 0) {
    floods.slack.n -= 1;
    res.set('Retry-After', String(floods.slack.retryAfter));
    return res.status(429).json({ ok: false, error: 'ratelimited' });
  }
  if (!req.body.channel) return res.json({ ok: false, error: 'channel_not_found' });
  const ts = `${Math.floor(Date.now() / 1000)}.${String(Number(snowflake++ % 1000000n)).padStart(6, '0')}`;
  calls.push({ platform: 'slack', method: 'chat.postMessage', body: req.body, ts, at: Date.now() });
  res.json({ ok: true, channel: req.body.channel, ts, message: { text: req.body.text, ts } });
});
function slackSocket(ws) {
  slack.sockets.add(ws);
  ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A1' } }));
  for (const e of slack.pending) { e.retry_attempt += 1; e.retry_reason = 'timeout'; ws.send(JSON.stringify(e)); }
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.envelope_id) slack.pending = slack.pending.filter((e) => e.envelope_id !== m.envelope_id);
  });
  ws.on('close', () => slack.sockets.delete(ws));
}
app.post('/kit/slack/event', (req, res) => {
  const ev = req.body;
  const env = { envelope_id: `env-${nextId()}`, type: 'events_api', accepts_response_payload: false,
    retry_attempt: 0, retry_reason: '',
    payload: { token: 'x', team_id: 'T1', api_app_id: 'A1', type: 'event_callback', event_id: `Ev${nextId()}`,
      event_time: Math.floor(Date.now() / 1000), event: ev } };
  slack.pending.push(env);
  for (const ws of slack.sockets) ws.send(JSON.stringify(env));
  res.json({ ok: true, envelope_id: env.envelope_id });
});
app.post('/kit/slack/disconnect', (req, res) => {
  for (const ws of slack.sockets) ws.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested' }));
  res.json({ ok: true });
});

// ---------- control ----------
app.post('/kit/flood', (req, res) => {
  floods[req.query.platform] = { n: Number(req.query.n || 1), retryAfter: Number(req.query.retry_after || 1) };
  res.json({ ok: true });
});
app.get('/kit/calls', (req, res) => res.json(calls));
app.get('/kit/slack/pending', (req, res) => res.json(slack.pending.length));

const server = http.createServer(app);
const dWss = new WebSocketServer({ noServer: true });
const sWss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, sock, head) => {
  if (req.url.startsWith('/discord/gateway')) dWss.handleUpgrade(req, sock, head, discordSocket);
  else if (req.url.startsWith('/slack/socket')) sWss.handleUpgrade(req, sock, head, slackSocket);
  else sock.destroy();
});
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  process.stdout.write(`${port}\n`);
});
