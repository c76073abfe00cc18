// The control UI's shell: sign in with the gateway token, then one page per concern.
import { html, render, useState, useEffect } from "../vendor/preact-htm.js";
import { Gateway } from "./client.js";
import { Chat } from "./chat.js";
import { Channels, Approvals, Memory, Models, Logs, Status } from "./pages.js";
import { Config } from "./config.js";

const PAGES = [
  ["chat", "Chat", Chat],
  ["channels", "Channels", Channels],
  ["approvals", "Approvals", Approvals],
  ["memory", "Memory", Memory],
  ["models", "Models", Models],
  ["config", "Config", Config],
  ["logs", "Logs", Logs],
  ["status", "Status", Status],
];
const TOKEN_KEY = "hearth.token";

function SignIn({ error, onToken }) {
  const [token, setToken] = useState("");
  const submit = (e) => {
    e.preventDefault();
    if (token.trim()) onToken(token.trim());
  };
  return html`<main class="signin">
    <h1>Hearth</h1>
    <form onSubmit=${submit}>
      <label for="token">Gateway token</label>
      <input id="token" name="token" type="password" autocomplete="current-password"
        value=${token} onInput=${(e) => setToken(e.target.value)}
        placeholder="from gateway.token or hearth status --show-token" />
      <button type="submit" id="signin">Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
    </form>
  </main>`;
}

function App() {
  const [token, setToken] = useState(() => localStorage.getItem(TOKEN_KEY));
  const [gw, setGw] = useState(null);
  const [state, setState] = useState("connecting");
  const [error, setError] = useState(null);
  const [page, setPage] = useState(() => (location.hash || "#chat").slice(1));
  const [pending, setPending] = useState(0);

  useEffect(() => {
    const f = () => setPage((location.hash || "#chat").slice(1));
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);

  useEffect(() => {
    if (!token) return;
    const g = new Gateway(token, (s, detail) => {
      setState(s);
      if (s === "refused") {
        localStorage.removeItem(TOKEN_KEY);
        setError(detail);
        setToken(null);
      }
    });
    setGw(g);
    return () => g.close();
  }, [token]);

  useEffect(() => {
    if (!gw || state !== "connected") return;
    const refresh = () =>
      gw.call("exec.approval.list").then((r) => setPending((r.pending || []).length), () => {});
    refresh();
    const offs = [gw.on("exec.approval.requested", refresh), gw.on("exec.approval.resolved", refresh)];
    return () => offs.forEach((o) => o());
  }, [gw, state]);

  if (!token) {
    return html`<${SignIn} error=${error} onToken=${(t) => {
      localStorage.setItem(TOKEN_KEY, t);
      setError(null);
      setToken(t);
    }} />`;
  }
  const current = PAGES.find((p) => p[0] === page) || PAGES[0];
  const Page = current[2];
  const signOut = () => {
    localStorage.removeItem(TOKEN_KEY);
    setToken(null);
  };
  return html`<div class="shell">
    <header>
      <span class="brand">Hearth</span>
      <nav>
        ${PAGES.map(
          ([id, label]) => html`<a href=${"#" + id} class=${id === current[0] ? "on" : ""} id=${"nav-" + id}>
            ${label}${id === "approvals" && pending > 0 ? html` <b class="badge">${pending}</b>` : ""}</a>`,
        )}
      </nav>
      <span class=${"conn " + state} title=${state}>${state}</span>
      <button class="link" onClick=${signOut}>Sign out</button>
    </header>
    <main class="page">
      ${gw && state === "connected" ? html`<${Page} gw=${gw} />` : html`<p class="muted">Connecting to the gateway…</p>`}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
