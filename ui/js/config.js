// Config: the settings in effect as a form (each changed field sent as a JSON merge patch,
// `config.patch`; a refusal is shown at its field), and the file itself as text
// (`config.apply`; a refusal is shown at its line). Secrets never appear: the config holds
// references to them (env:, file:, credential:), not their values.
import { html, useState, useEffect } from "../vendor/preact-htm.js";

/** The scalar leaves of `obj` as [path, value] pairs (arrays of scalars count as one). */
function leaves(obj, prefix = "") {
  const out = [];
  for (const [k, v] of Object.entries(obj || {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(...leaves(v, path));
    else if (!Array.isArray(v) || v.every((x) => typeof x !== "object")) out.push([path, v]);
  }
  return out;
}

/** The text a field shows for `v`, and the value its text stands for. */
const show = (v) =>
  Array.isArray(v) ? v.join(", ")
  : v == null ? ""
  : typeof v === "number" && !Number.isInteger(v) ? String(parseFloat(v.toPrecision(7))) // f32 settings
  : String(v);
function parse(text, like) {
  if (typeof like === "boolean") return text === "true";
  if (typeof like === "number") return text.trim() !== "" && !isNaN(Number(text)) ? Number(text) : text;
  if (Array.isArray(like)) return text.split(",").map((x) => x.trim()).filter((x) => x);
  if (like == null && text === "") return null;
  return text;
}

/** `{a: {b: v}}` from "a.b" and v. */
function patchOf(edits) {
  const p = {};
  for (const [path, v] of Object.entries(edits)) {
    const keys = path.split(".");
    let o = p;
    keys.slice(0, -1).forEach((k) => (o = o[k] = o[k] || {}));
    o[keys[keys.length - 1]] = v;
  }
  return p;
}

export function Config({ gw }) {
  const [snap, setSnap] = useState(null);
  const [edits, setEdits] = useState({});
  const [raw, setRaw] = useState("");
  const [issue, setIssue] = useState(null); // {path, line, message}
  const [note, setNote] = useState(null);
  const [tab, setTab] = useState("form");
  const [open, setOpen] = useState({ agent: true });

  const load = () =>
    gw.call("config.get").then((s) => {
      setSnap(s);
      setRaw(s.raw || "");
      setEdits({});
    }, (e) => setNote(e.message));
  useEffect(() => { load(); }, []);

  const done = (r) => {
    setIssue(null);
    const restart = r.restartRequired && r.restartRequired.length
      ? ` Needs a restart to take effect: ${r.restartRequired.join(", ")}.` : "";
    setNote(`Applied.${r.applied && r.applied.length ? " " + r.applied.join("; ") + "." : ""}${restart}`);
    load();
  };
  const refused = (e) => {
    setNote(null);
    const i = e.details && e.details.issues && e.details.issues[0];
    setIssue(i || { path: "", line: null, message: e.message });
  };
  const applyForm = (e) => {
    e.preventDefault();
    gw.call("config.patch", { patch: patchOf(edits), baseHash: snap.hash }).then(done, refused);
  };
  const applyRaw = (e) => {
    e.preventDefault();
    gw.call("config.apply", { raw, baseHash: snap.hash }).then(done, refused);
  };
  if (!snap) return html`<p class="muted">Loading the config…</p>`;
  const sections = {};
  for (const [path, v] of leaves(snap.config)) {
    const s = path.split(".")[0];
    (sections[s] = sections[s] || []).push([path, v]);
  }
  const fieldIssue = (path) => issue && issue.path && (issue.path === path || issue.path.startsWith(path + "."));
  const lines = raw.split("\n");
  return html`<section class="config">
    <h2>Config</h2>
    <p class="muted">${snap.path || "embedded defaults (no file: start the gateway with --config FILE to edit)"}
      ${snap.valid ? "" : html` — <span class="bad">the file is not valid now</span>`}</p>
    <div class="tabs">
      <button class=${tab === "form" ? "on" : ""} onClick=${() => setTab("form")}>Settings</button>
      <button class=${tab === "raw" ? "on" : ""} onClick=${() => setTab("raw")} id="tab-raw">File</button>
    </div>
    ${note && html`<p class="ok" role="status" id="config-note">${note}</p>`}
    ${issue && !issue.path && html`<p class="error" role="alert">${issue.message}</p>`}
    ${tab === "form" ? html`<form onSubmit=${applyForm} id="config-form">
      ${Object.entries(sections).map(([s, fields]) => html`<fieldset>
        <legend><button type="button" class="link" onClick=${() => setOpen({ ...open, [s]: !open[s] })}>
          ${open[s] || fields.some(([p]) => fieldIssue(p)) ? "▾" : "▸"} ${s}</button></legend>
        ${(open[s] || fields.some(([p]) => fieldIssue(p))) && fields.map(([path, v]) => html`<div class=${"field" + (fieldIssue(path) ? " invalid" : "")}>
          <label for=${"f-" + path}>${path.slice(s.length + 1) || s}</label>
          ${typeof v === "boolean"
            ? html`<input type="checkbox" id=${"f-" + path} data-path=${path}
                checked=${path in edits ? edits[path] : v}
                onChange=${(e) => setEdits({ ...edits, [path]: e.target.checked })} />`
            : html`<input type="text" id=${"f-" + path} data-path=${path}
                value=${path in edits ? show(edits[path]) : show(v)}
                onInput=${(e) => setEdits({ ...edits, [path]: parse(e.target.value, v) })} />`}
          ${fieldIssue(path) && html`<p class="error field-error" role="alert">${issue.message}</p>`}
        </div>`)}
      </fieldset>`)}
      <button type="submit" class="primary" id="config-apply" disabled=${!Object.keys(edits).length}>Apply</button>
      <small class="muted"> Applying rewrites the file from its settings (comments are dropped); use File to keep them.</small>
    </form>` : html`<form onSubmit=${applyRaw} id="config-raw">
      <div class="editor">
        <ol class="gutter">${lines.map((_, i) => html`<li class=${issue && issue.line === i + 1 ? "bad" : ""}>${i + 1}</li>`)}</ol>
        <textarea id="config-text" spellcheck="false" rows=${Math.max(lines.length + 2, 12)}
          value=${raw} onInput=${(e) => setRaw(e.target.value)}></textarea>
      </div>
      ${issue && issue.path && html`<p class="error" role="alert">${issue.path}${issue.line ? ` (line ${issue.line})` : ""}: ${issue.message}</p>`}
      <button type="submit" class="primary">Apply</button>
    </form>`}
  </section>`;
}
