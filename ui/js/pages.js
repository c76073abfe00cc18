// The operator pages besides chat and config: channels with pairing requests, approvals
// answered live, memory, models with provider health, logs, and the gateway's status.
import { html, useState, useEffect, useRef } from "../vendor/preact-htm.js";

/** Calls `method` now and whenever `events` arrive or `every` ms pass; [data, error, reload]. */
function useCall(gw, method, params, { events = [], every = 0 } = {}) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const load = () => gw.call(method, params).then((d) => { setData(d); setError(null); }, (e) => setError(e.message));
  useEffect(() => {
    load();
    const offs = events.map((e) => gw.on(e, load));
    const t = every ? setInterval(load, every) : null;
    return () => { offs.forEach((o) => o()); if (t) clearInterval(t); };
  }, []);
  return [data, error, load];
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : "—");
const Err = ({ e }) => e && html`<p class="error" role="alert">${e}</p>`;

export function Channels({ gw }) {
  const [status, e1, reloadStatus] = useCall(gw, "channels.status", {}, { every: 5000 });
  const [pairing, e2, reloadPairing] = useCall(gw, "pairing.list", {}, { every: 3000 });
  const [error, setError] = useState(null);
  const decide = (r, approve) =>
    gw.call(approve ? "pairing.approve" : "pairing.reject", { channel: r.channel, code: r.code }).then(
      () => { reloadPairing(); reloadStatus(); },
      (e) => setError(e.message),
    );
  const rows = (status && status.channels) || [];
  const reqs = (pairing && pairing.requests) || [];
  return html`<section>
    <h2>Channels</h2>
    <${Err} e=${e1 || e2 || error} />
    ${rows.length === 0 ? html`<p class="muted">No channel is configured.</p>` : html`<table class="grid" id="channels">
      <thead><tr><th>Channel</th><th>Account</th><th>State</th><th>Last error</th><th>Backlog</th><th>Dead letters</th></tr></thead>
      <tbody>${rows.map((c) => html`<tr>
        <td>${c.channel}</td><td>${c.account}</td>
        <td class=${c.connected ? "ok" : "bad"}>${c.connected ? "connected" : "not connected"}</td>
        <td>${c.lastError || "—"}${c.lastErrorMs ? html`<br /><small>${when(c.lastErrorMs)}</small>` : ""}</td>
        <td>${c.backlog}</td><td>${c.deadLetters}</td></tr>`)}</tbody>
    </table>`}
    <h3>Pairing requests</h3>
    ${reqs.length === 0 ? html`<p class="muted">None waiting.</p>` : html`<ul class="cards" id="pairing">
      ${reqs.map((r) => html`<li class="card">
        <div><strong>${r.name || r.peer}</strong> on ${r.channel} (${r.peer})</div>
        <div>Code <code>${r.code}</code>, expires ${when(r.expiresMs)}</div>
        <div class="actions">
          <button class="primary" onClick=${() => decide(r, true)} data-code=${r.code}>Approve</button>
          <button onClick=${() => decide(r, false)}>Reject</button>
        </div></li>`)}
    </ul>`}
  </section>`;
}

export function Approvals({ gw }) {
  const events = ["exec.approval.requested", "exec.approval.resolved"];
  const [list, err, reload] = useCall(gw, "exec.approval.list", {}, { events });
  const [error, setError] = useState(null);
  const resolve = (id, decision) =>
    gw.call("exec.approval.resolve", { id, decision }).then(reload, (e) => setError(e.message));
  const pending = (list && list.pending) || [];
  return html`<section>
    <h2>Approvals</h2>
    <${Err} e=${err || error} />
    ${pending.length === 0 ? html`<p class="muted">Nothing waits for a decision.</p>` : html`<ul class="cards" id="approvals">
      ${pending.map((a) => html`<li class="card">
        <div><strong>${a.tool}</strong>: <code>${a.command}</code></div>
        <div><small>${a.reason} · agent ${a.agentId} · ${a.sessionKey} · by ${a.requestedBy} · expires ${when(a.expiresAtMs)}</small></div>
        <div class="actions">
          ${(a.allowedDecisions || ["allow-once", "allow-always", "deny"]).map((d) => html`
            <button class=${d === "deny" ? "" : "primary"} data-decision=${d} onClick=${() => resolve(a.id, d)}>${d}</button>`)}
        </div></li>`)}
    </ul>`}
  </section>`;
}

export function Memory({ gw }) {
  const [status, err] = useCall(gw, "memory.status", {});
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState(null);
  const [error, setError] = useState(null);
  const search = (e) => {
    e.preventDefault();
    gw.call("memory.search", { query }).then(setHits, (e) => setError(e.message));
  };
  return html`<section>
    <h2>Memory</h2>
    <${Err} e=${err || error} />
    ${status && html`<p>${status.chunks} chunks, ${status.vectors} vectors, ${status.pending} changes waiting to be indexed
      ${status.note ? html`<br /><small>${status.note}</small>` : ""}</p>`}
    <form class="row" onSubmit=${search}>
      <input value=${query} onInput=${(e) => setQuery(e.target.value)} placeholder="Search long-term memory" />
      <button type="submit">Search</button>
    </form>
    ${hits && html`<ol class="hits">${(hits.results || []).map((h) => html`<li>
      <div><code>${h.path}:${h.startLine}-${h.endLine}</code> <small>score ${h.score.toFixed(3)}</small></div>
      <pre>${h.snippet}</pre></li>`)}</ol>
      ${hits.results && hits.results.length === 0 ? html`<p class="muted">Nothing found.</p>` : ""}`}
  </section>`;
}

export function Models({ gw }) {
  const [data, err] = useCall(gw, "models.list", {}, { every: 10000 });
  const now = Date.now();
  return html`<section>
    <h2>Models</h2>
    <${Err} e=${err} />
    <table class="grid" id="models"><thead><tr><th>Model</th><th>Window</th><th>Auth profiles</th></tr></thead>
      <tbody>${((data && data.models) || []).map((m, i) => html`<tr>
        <td>${m.id}${i === 0 ? html` <small>(primary)</small>` : html` <small>(fallback)</small>`}</td>
        <td>${m.contextWindow || "—"}</td>
        <td>${(m.profiles || []).map((p) => html`<div class=${p.healthy ? "ok" : "bad"}>
          ${p.id}: ${p.healthy ? "healthy" : `cooling down until ${when(p.cooldownUntil)}`}
          ${p.failures ? ` (${p.failures} failures${p.lastError ? ": " + p.lastError : ""})` : ""}</div>`)}</td>
      </tr>`)}</tbody></table>
  </section>`;
}

export function Logs({ gw }) {
  const [lines, setLines] = useState([]);
  const [error, setError] = useState(null);
  const cursor = useRef(null);
  const box = useRef(null);
  useEffect(() => {
    const poll = () => {
      const p = { limit: 500 };
      if (cursor.current != null) p.cursor = cursor.current;
      gw.call("logs.tail", p).then((t) => {
        cursor.current = t.cursor;
        if (t.lines.length) setLines((l) => [...(t.reset ? [] : l), ...t.lines].slice(-1000));
      }, (e) => setError(e.message));
    };
    poll();
    const t = setInterval(poll, 2000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => { if (box.current) box.current.scrollTop = box.current.scrollHeight; }, [lines]);
  return html`<section>
    <h2>Logs</h2>
    <${Err} e=${error} />
    <pre class="logs" id="logs" ref=${box}>${lines.join("\n")}</pre>
  </section>`;
}

export function Status({ gw }) {
  const [st, err] = useCall(gw, "status", {}, { every: 5000 });
  const [up, err2] = useCall(gw, "update.status", {});
  return html`<section>
    <h2>Status</h2>
    <${Err} e=${err || err2} />
    ${st && html`<dl class="facts">
      <dt>Version</dt><dd>${st.version}</dd>
      <dt>Up</dt><dd>${Math.round(st.uptimeMs / 60000)} min</dd>
      <dt>Sessions</dt><dd>${st.sessions && st.sessions.count}</dd>
      <dt>Turns</dt><dd>${st.queue.running} running, ${st.queue.queued} waiting, ${st.queue.inbox} in the inbox</dd>
      <dt>Outbox</dt><dd>${st.outbox.pending} pending, ${st.outbox.dead} dead letters</dd>
      <dt>Store</dt><dd>${st.store.path} (${Math.round(st.store.bytes / 1048576)} MiB)</dd>
    </dl>`}
    <h3>Update</h3>
    ${up && html`<dl class="facts" id="update">
      <dt>Running</dt><dd>${up.version}</dd>
      <dt>Layout</dt><dd>${up.layout ? up.layout : "not installed in the A/B layout (updates come from the package manager)"}</dd>
      ${up.state && html`<dt>State</dt><dd>${up.state}</dd>`}
      ${up.current && html`<dt>Current slot</dt><dd>${up.current}</dd>`}
      ${up.previous && html`<dt>Previous slot</dt><dd>${up.previous}</dd>`}
    </dl>`}
  </section>`;
}
