// Chat: the sessions, a session's history, the answer streaming in, send, abort, reset and
// the queue mode (the `/queue` directive, answered by the gateway like any chat command).
import { html, useState, useEffect, useRef } from "../vendor/preact-htm.js";
import { newKey, messageText } from "./client.js";

const MODES = ["collect", "followup", "steer", "interrupt"];

export function Chat({ gw }) {
  const [sessions, setSessions] = useState([]);
  const [key, setKey] = useState("agent:main:main");
  const [messages, setMessages] = useState([]);
  const [stream, setStream] = useState(null); // {runId, text}
  const [running, setRunning] = useState(null);
  const [text, setText] = useState("");
  const [error, setError] = useState(null);
  const [showList, setShowList] = useState(false);
  const bottom = useRef(null);

  const loadSessions = () =>
    gw.call("sessions.list", { limit: 100 }).then((r) => setSessions(r.sessions || []), (e) => setError(e.message));
  const loadHistory = (k) =>
    gw.call("chat.history", { sessionKey: k, limit: 200 }).then(
      (r) => setMessages((r.messages || []).filter((m) => m.role === "user" || m.role === "assistant")),
      (e) => setError(e.message),
    );

  useEffect(() => {
    loadSessions();
  }, []);
  useEffect(() => {
    setStream(null);
    loadHistory(key);
  }, [key]);
  useEffect(() => {
    const off = gw.on("chat", (p) => {
      if (p.sessionKey !== key) return;
      if (p.state === "delta") {
        setRunning(p.runId);
        setStream({ runId: p.runId, text: messageText(p.message) });
      } else {
        setRunning(null);
        setStream(null);
        if (p.state === "error" || p.state === "aborted") setError(p.errorMessage || p.state);
        loadHistory(key);
        loadSessions();
      }
    });
    return off;
  }, [key]);
  useEffect(() => {
    if (bottom.current) bottom.current.scrollIntoView({ block: "end" });
  }, [messages, stream]);

  const send = (e) => {
    e.preventDefault();
    const m = text.trim();
    if (!m) return;
    setText("");
    setError(null);
    setMessages((ms) => [...ms, { role: "user", content: [{ type: "text", text: m }], pending: true }]);
    gw.call("chat.send", { sessionKey: key, message: m, idempotencyKey: newKey() }).then(
      (r) => setRunning(r.runId),
      (e) => setError(e.message),
    );
  };
  const abort = () => gw.call("chat.abort", { sessionKey: key, clearQueue: true }).catch((e) => setError(e.message));
  const reset = () => {
    if (!confirm(`Start a new session for ${key}? The old transcript is kept, unlisted.`)) return;
    gw.call("sessions.reset", { key }).then(() => loadHistory(key), (e) => setError(e.message));
  };
  const queue = (mode) =>
    gw.call("chat.send", { sessionKey: key, message: `/queue ${mode}`, idempotencyKey: newKey() })
      .then(() => setTimeout(() => loadHistory(key), 300), (e) => setError(e.message));

  const current = sessions.find((s) => s.key === key);
  return html`<div class=${"chat" + (showList ? " list-open" : "")}>
    <aside class="sessions">
      <h2>Sessions</h2>
      <ul>
        ${[{ key: "agent:main:main" }, ...sessions.filter((s) => s.key !== "agent:main:main")].map(
          (s) => html`<li class=${s.key === key ? "on" : ""}>
            <button class="link" onClick=${() => { setKey(s.key); setShowList(false); }}>${s.key}</button>
            ${s.messages != null && html`<small>${s.messages} msgs</small>`}
          </li>`,
        )}
      </ul>
    </aside>
    <section class="conversation">
      <div class="toolbar">
        <button class="link only-narrow" onClick=${() => setShowList(!showList)}>Sessions</button>
        <strong class="key">${key}</strong>
        <label>Queue <select id="queue-mode" value=${(current && current.queue && current.queue.mode) || ""}
          onChange=${(e) => e.target.value && queue(e.target.value)}>
          <option value="">default</option>
          ${MODES.map((m) => html`<option value=${m}>${m}</option>`)}
        </select></label>
        <button onClick=${abort} disabled=${!running} id="abort">Abort</button>
        <button onClick=${reset} id="reset">Reset</button>
      </div>
      <ol class="messages" id="messages">
        ${messages.map((m) => {
          const calls = (Array.isArray(m.content) ? m.content : []).filter((p) => p.type === "toolCall");
          const text = messageText(m);
          return html`${text && html`<li class=${"msg " + m.role}>${text}</li>`}
            ${calls.length > 0 && html`<li class="msg calls">⚙ ${calls.map((c) => c.name).join(", ")}</li>`}`;
        })}
        ${stream && html`<li class="msg assistant streaming" id="streaming">${stream.text}</li>`}
        <li ref=${bottom}></li>
      </ol>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <form class="composer" onSubmit=${send}>
        <textarea id="composer" rows="2" value=${text} placeholder="Message"
          onInput=${(e) => setText(e.target.value)}
          onKeyDown=${(e) => { if (e.key === "Enter" && !e.shiftKey) send(e); }}></textarea>
        <button type="submit" id="send">Send</button>
      </form>
    </section>
  </div>`;
}
