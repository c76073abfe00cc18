// The Telegram Bot API peer of the tests: npm `telegram-test-api` (its message store, its
// sendMessage/editMessageText/setWebhook routes and its client API), with what the tests
// need to be faithful to the published Bot API (https://core.telegram.org/bots/api):
//   - getUpdates honours `offset` (updates below it are confirmed and forgotten; nothing is
//     marked read by being sent), `limit` and `timeout` (a long poll), and a second poll
//     for the same token ends the first with 409 "Conflict: terminated by other getUpdates
//     request", as Telegram does;
//   - sendChatAction and getFile/file download exist (the emulator has neither); actions
//     and message edits are recorded for the tests at GET /kit/actions?token=…;
//   - POST /kit/flood?token=…&n=N&retry_after=S makes the next N sendMessage calls answer
//     429 with parameters.retry_after = S;
//   - webhook mode as Telegram does it: setWebhook's secret_token comes back in the
//     X-Telegram-Bot-Api-Secret-Token header of every update POSTed to the URL; an answer
//     other than 2xx keeps the update and retries it (every 300 ms here), in order; and
//     getUpdates answers 409 while a webhook is set.
// Usage: NODE_PATH=<node_modules> node tests/kit/telegram.js; prints the port when ready.
'use strict';
const http = require('http');
const express = require('express');
const TelegramServer = require('telegram-test-api');

const server = new TelegramServer({ host: '127.0.0.1', port: 1 });
const app = express();
app.use(express.json({ limit: '10mb' }));
app.use(express.urlencoded({ extended: true }));

const polls = new Map(); // token -> the pending long poll's { res, done }
const actions = [];
const floods = new Map(); // token -> { n, retryAfter }
const files = new Map(); // file_id -> Buffer

const params = (req) => Object.assign({}, req.query, req.body);

// Webhook delivery: one queue per token, sent in order, retried until answered 2xx.
const hookQueues = new Map(); // token -> [update]
const hookBusy = new Set();
async function pump(token) {
  if (hookBusy.has(token)) return;
  hookBusy.add(token);
  try {
    const q = hookQueues.get(token) || [];
    while (q.length > 0) {
      const hook = server.webhooks[token];
      if (!hook) return;
      const headers = { 'content-type': 'application/json' };
      if (hook.secret_token) headers['X-Telegram-Bot-Api-Secret-Token'] = hook.secret_token;
      let ok = false;
      try {
        const r = await fetch(hook.url, { method: 'POST', headers, body: JSON.stringify(q[0]) });
        ok = r.status >= 200 && r.status < 300;
      } catch (e) { ok = false; }
      if (ok) { q.shift(); } else { await new Promise((d) => setTimeout(d, 300)); }
    }
  } finally {
    hookBusy.delete(token);
  }
}
const addUserUpdate = server.addUserUpdate.bind(server);
server.addUserUpdate = async function (update) {
  if (!this.webhooks[update.botToken]) return addUserUpdate(update);
  const formatted = TelegramServer.formatUpdate(update);
  if (!hookQueues.has(update.botToken)) hookQueues.set(update.botToken, []);
  hookQueues.get(update.botToken).push(formatted);
  this.updateId++;
  pump(update.botToken);
};

app.all('/bot:token/getUpdates', (req, res) => {
  const token = req.params.token;
  if (server.webhooks[token]) {
    res.status(409).json({ ok: false, error_code: 409,
      description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
    return;
  }
  const p = params(req);
  const offset = Number(p.offset || 0);
  const limit = Math.min(Math.max(Number(p.limit || 100), 1), 100);
  const timeout = Math.min(Number(p.timeout || 0), 50) * 1000;
  if (offset) {
    server.storage.userMessages = server.storage.userMessages.filter(
      (u) => !(u.botToken === token && u.updateId < offset));
  }
  const earlier = polls.get(token);
  if (earlier && !earlier.done) {
    earlier.done = true;
    earlier.res.status(409).json({ ok: false, error_code: 409,
      description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
  }
  const poll = { res, done: false };
  polls.set(token, poll);
  const pick = () => server.storage.userMessages
    .filter((u) => u.botToken === token && u.updateId >= offset)
    .sort((a, b) => a.updateId - b.updateId)
    .slice(0, limit);
  const started = Date.now();
  const tick = () => {
    if (poll.done) return;
    const got = pick();
    if (got.length > 0 || Date.now() - started >= timeout) {
      poll.done = true;
      res.json({ ok: true, result: got.map((u) => TelegramServer.formatUpdate(u)) });
      return;
    }
    setTimeout(tick, 20);
  };
  res.on('close', () => { poll.done = true; });
  tick();
});

app.all('/bot:token/sendMessage', (req, res, next) => {
  const f = floods.get(req.params.token);
  if (f && f.n > 0) {
    f.n -= 1;
    res.status(429).json({ ok: false, error_code: 429,
      description: `Too Many Requests: retry after ${f.retryAfter}`,
      parameters: { retry_after: f.retryAfter } });
    return;
  }
  next();
});

app.all('/bot:token/editMessageText', (req, res, next) => {
  actions.push(Object.assign({ token: req.params.token, at: Date.now(), action: 'editMessageText' }, params(req)));
  next();
});

app.all('/bot:token/sendChatAction', (req, res) => {
  actions.push(Object.assign({ token: req.params.token, at: Date.now() }, params(req)));
  res.json({ ok: true, result: true });
});

app.all('/bot:token/getFile', (req, res) => {
  const id = params(req).file_id;
  if (!files.has(id)) {
    res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
    return;
  }
  res.json({ ok: true, result: { file_id: id, file_size: files.get(id).length, file_path: `files/${id}` } });
});

app.get('/file/bot:token/files/:id', (req, res) => {
  const f = files.get(req.params.id);
  if (!f) { res.status(404).end(); return; }
  res.type('application/octet-stream').send(f);
});

app.get('/kit/actions', (req, res) => {
  res.json(actions.filter((a) => a.token === req.query.token));
});

app.post('/kit/flood', (req, res) => {
  floods.set(req.query.token, { n: Number(req.query.n || 1), retryAfter: Number(req.query.retry_after || 1) });
  res.json({ ok: true });
});

// A file the next user message can carry: body is the raw content, ?id= names it.
app.post('/kit/file', express.raw({ type: '*/*', limit: '50mb' }), (req, res) => {
  files.set(req.query.id, Buffer.from(req.body));
  res.json({ ok: true });
});

app.use(server.webServer);

const listener = http.createServer(app).listen(0, '127.0.0.1', () => {
  process.stdout.write(`${listener.address().port}\n`);
});
