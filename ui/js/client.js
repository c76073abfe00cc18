// The gateway's WebSocket protocol (OpenClaw's v4, https://docs.openclaw.ai/gateway/protocol)
// for the control UI: the challenge, `connect` with the token, requests with their
// responses (two for `agent`), events, and reconnecting with backoff.

const PROTOCOL = 4;

export class Gateway {
  constructor(token, onState) {
    this.token = token;
    this.onState = onState; // (state, detail) => void: "connecting" | "connected" | "refused" | "closed"
    this.pending = new Map();
    this.listeners = new Map();
    this.next = 1;
    this.closed = false;
    this.backoff = 500;
    this.hello = null;
    this.open();
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/`;
  }

  open() {
    this.onState("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    let handshake = true;
    ws.onmessage = (m) => {
      let f;
      try {
        f = JSON.parse(m.data);
      } catch {
        return;
      }
      if (f.type === "event" && f.event === "connect.challenge" && handshake) {
        this.send("connect", {
          minProtocol: PROTOCOL,
          maxProtocol: PROTOCOL,
          client: { id: "hearth-ui", displayName: "Hearth control UI", version: "1", platform: "web", mode: "ui" },
          role: "operator",
          auth: { token: this.token },
        }).then(
          (hello) => {
            handshake = false;
            this.hello = hello;
            this.backoff = 500;
            this.onState("connected", hello);
          },
          (e) => {
            this.closed = true;
            this.onState("refused", e.message);
          },
        );
        return;
      }
      if (f.type === "res") {
        const p = this.pending.get(f.id);
        if (!p) return;
        if (f.ok && f.payload && f.payload.status === "accepted" && p.expectFinal) {
          if (p.onAccepted) p.onAccepted(f.payload);
          return;
        }
        this.pending.delete(f.id);
        if (f.ok) p.resolve(f.payload);
        else {
          const e = new Error(f.error ? f.error.message : "request failed");
          e.code = f.error && f.error.code;
          e.details = f.error && f.error.details;
          p.reject(e);
        }
        return;
      }
      if (f.type === "event") {
        for (const cb of this.listeners.get(f.event) || []) cb(f.payload);
        for (const cb of this.listeners.get("*") || []) cb(f.event, f.payload);
      }
    };
    ws.onclose = () => {
      for (const p of this.pending.values()) p.reject(new Error("connection lost"));
      this.pending.clear();
      if (this.closed) return;
      this.onState("closed");
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 15000);
    };
  }

  send(method, params, opts = {}) {
    const id = `${this.next++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, expectFinal: opts.expectFinal, onAccepted: opts.onAccepted });
      try {
        this.ws.send(JSON.stringify({ type: "req", id, method, params: params || {} }));
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  /** Calls `method`; resolves with its payload, rejects with the error (message, code, details). */
  call(method, params) {
    return this.send(method, params);
  }

  on(event, cb) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(cb);
    return () => this.listeners.get(event).delete(cb);
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}

/** A random idempotency key (it becomes the run id). */
export function newKey() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "ui-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The text of an OpenClaw message: its text parts joined. */
export function messageText(m) {
  if (!m) return "";
  if (typeof m.content === "string") return m.content;
  return (m.content || []).filter((p) => p.type === "text").map((p) => p.text).join("");
}
