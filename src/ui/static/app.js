// testum web UI: forms and buttons call the REST API with fetch (session cookie + CSRF token),
// problem+json field errors appear next to their fields, and task pages follow WS /ws/tasks/{id}.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function api(method, url, body) {
  const init = { method, headers: { "X-CSRF-Token": csrf(), Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (res.status === 401) { location.href = "/"; }
  return { ok: res.ok, status: res.status, data };
}

// Where an error field goes: its own slot and input, else (for `options.<key id>.<option>[i]`,
// which the deploy form sends for every chosen key) the option's, with the option named.
function errorSlot(scope, field) {
  const own = (name) => scope.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (own(field)) return { slot: own(field), name: field, prefix: "" };
  const m = /^options\.[^.]+\.([^.[]+)/.exec(field);
  const name = m && "options." + m[1];
  return name && own(name) ? { slot: own(name), name, prefix: field.split(".").slice(2).join(".") + ": " } : { slot: null };
}

// Show a problem+json answer: field errors next to their fields, the rest at the form's top.
function showProblem(scope, data, status) {
  let placed = false;
  for (const e of (data && data.errors) || []) {
    const { slot, name, prefix } = errorSlot(scope, e.field);
    if (slot) {
      slot.textContent = prefix + e.message;
      const input = scope.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", slot.id || (slot.id = "err-" + e.field + "-" + Math.random().toString(36).slice(2))); }
      placed = true;
    }
  }
  const top = scope.querySelector(".form-error");
  if (top && !placed) {
    top.textContent = (data && (data.detail || data.title)) || `request failed (${status})`;
    top.hidden = false;
  }
}

function clearProblem(scope) {
  scope.querySelectorAll("[data-error-for]").forEach((s) => { s.textContent = ""; });
  scope.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
  scope.querySelectorAll(".form-error").forEach((t) => { t.hidden = true; t.textContent = ""; });
}

// The JSON body of a form, starting from its `data-body` (JSON) if any: empty fields are left
// out (PATCH keeps what is stored), number inputs become numbers, multi-selects arrays,
// `data-list` inputs comma-separated arrays, `data-json` inputs their value read as JSON
// (`true`, `false`), `datetime-local` with `data-utc` an RFC 3339 UTC time (a `date` one: the
// start of that day, UTC), and
// `data-include="NAME"` adds the values of the page's checked `[data-select=NAME]` boxes.
// Fields named `options.NAME` (ticked boxes: `true`, `data-array`: a one-item list) make one sshd
// options object, sent as `options` for every id of the form's `data-options` field.
function formBody(form) {
  const body = form.dataset.body ? JSON.parse(form.dataset.body) : {};
  const options = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "file" || el.type === "submit") continue;
    if (el.name.startsWith("options.")) {
      const name = el.name.slice("options.".length);
      if (el.type === "checkbox") { if (el.checked) options[name] = true; }
      else if (el.value.trim()) options[name] = el.dataset.array !== undefined ? [el.value.trim()] : el.value.trim();
      continue;
    }
    if (el.dataset.onlyWith && !el.dataset.onlyWith.split(" ").some((id) => document.getElementById(id)?.value)) continue;
    if (el.multiple) { body[el.name] = [...el.selectedOptions].map((o) => o.value); continue; }
    const v = el.value.trim();
    if (el.dataset.list !== undefined) { body[el.name] = v ? v.split(",").map((s) => s.trim()).filter(Boolean) : []; continue; }
    if (el.dataset.json !== undefined) { body[el.name] = JSON.parse(v); continue; }
    if (v === "") continue;
    if (el.type === "number") body[el.name] = Number(v);
    else if (el.dataset.utc !== undefined) body[el.name] = el.type === "date" ? v + "T00:00:00Z" : v.length === 16 ? v + ":00Z" : v + "Z";
    else if (el.type === "password" || el.tagName === "TEXTAREA") body[el.name] = el.value;
    else body[el.name] = v;
  }
  // `data-selector="ID"`: a non-empty selector in input ID replaces the ticked boxes.
  const selector = form.dataset.selector && document.getElementById(form.dataset.selector)?.value.trim();
  if (selector) body.selector = selector;
  else if (form.dataset.include) {
    const name = form.dataset.include;
    body[name] = [...document.querySelectorAll(`[data-select="${CSS.escape(name)}"]:checked`)].map((c) => c.value);
  }
  if (form.dataset.options && Object.keys(options).length) {
    body.options = Object.fromEntries((body[form.dataset.options] || []).map((id) => [id, options]));
  }
  return body;
}

async function submitForm(ev) {
  const form = ev.target.closest("form[data-api]");
  if (!form) return;
  ev.preventDefault();
  clearProblem(form);
  const buttons = form.querySelectorAll('[type="submit"]');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const body = formBody(form);
    // A `data-dry-run` button (Preview) sends the same request as a dry run.
    if (ev.submitter && ev.submitter.dataset.dryRun !== undefined) body.dry_run = true;
    const { ok, status, data } = await api(form.dataset.method || "POST", form.dataset.api, body);
    if (!ok) { showProblem(form, data, status); return; }
    form.dispatchEvent(new CustomEvent("testum:saved", { bubbles: true, detail: data }));
    if (data && data.task_id) location.href = "/ui/tasks/" + data.task_id;
    else location.reload();
  } catch (err) {
    showProblem(form, { detail: "the server cannot be reached: " + err.message }, 0);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function clickAction(ev) {
  const b = ev.target.closest("button[data-delete], button[data-post]");
  if (!b) return;
  if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
  // `data-error-scope` (a table cell) keeps a row's error next to the row's button.
  const scope = b.closest("[data-error-scope], form, section, main") || document.body;
  clearProblem(scope);
  const { ok, status, data } = b.dataset.delete ? await api("DELETE", b.dataset.delete) : await api("POST", b.dataset.post, {});
  if (!ok) { showProblem(scope, data, status); return; }
  if (b.dataset.then) location.href = b.dataset.then;
  else if (!b.dataset.post) location.reload();
}

// A file picked for a `data-fill` input is read into the named textarea.
function fillFromFile(ev) {
  const input = ev.target;
  if (!input.dataset || !input.dataset.fill || !input.files.length) return;
  input.files[0].text().then((t) => { document.getElementById(input.dataset.fill).value = t.trim(); });
}

function duration(started, finished) {
  if (!started) return "";
  const ms = (finished ? new Date(finished) : new Date()) - new Date(started);
  return (ms / 1000).toFixed(1) + " s" + (finished ? "" : " so far");
}

// A dry run's stdout is a unified diff: one span per line, classed by how the line starts.
const diffClass = (line) => /^(\+\+\+|---) /.test(line) ? "diff-file" : line.startsWith("@@") ? "diff-hunk"
  : line.startsWith("+") ? "diff-add" : line.startsWith("-") ? "diff-del" : "stdout";

function appendDiff(out, stream, data) {
  for (const piece of data.split(/(?<=\n)/)) {
    let line = out.lastElementChild;
    if (!line || line.dataset.stream !== stream || line.textContent.endsWith("\n")) {
      line = document.createElement("span");
      line.dataset.stream = stream;
      out.appendChild(line);
    }
    line.textContent += piece;
    line.className = stream === "stdout" ? diffClass(line.textContent) : stream;
  }
}

function setBadge(el, status) { el.textContent = status; el.className = "badge " + status; }

// A target's warnings (not output): one collapsed line with the first, the whole list when opened.
function setWarnings(el, list) {
  el.hidden = list.length === 0;
  el.querySelector('[data-field="warning-count"]').textContent = list.length > 1 ? list.length + " warnings · " : "";
  el.querySelector('[data-field="warning-first"]').textContent = list[0] || "";
  el.querySelector('[data-field="warning-list"]').replaceChildren(...list.map((w) => {
    const li = document.createElement("li"); li.textContent = w; return li;
  }));
}

// Task page at fleet scale: counts and progress from `target` frames of WS /ws/tasks/{id}?output=none
// (no output crosses the socket), a paged table of targets from GET /api/tasks/{id}/targets, the
// output grouped by content from /output_groups, and one host's output on demand, live.
const TASK_PAGE = 100;
const GROUP_PAGE = 20;

function wsUrl(path) { return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`; }

function exitText(t) { return t.exit_code != null ? "exit " + t.exit_code : t.exit_signal ? "signal " + t.exit_signal : ""; }

function changedText(t, dry) {
  if (t.changed == null) return "";
  return t.changed ? (dry ? "would change" : "changed") : (dry ? "no change" : "unchanged");
}

function firstLine(text) { return (text || "").split("\n")[0]; }

function bytesText(n) {
  return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB";
}

// Append one output chunk to a `pre`: diff lines classed when `diff`, else a span per chunk.
function appendOutput(out, stream, data, diff) {
  if (diff) { appendDiff(out, stream, data); return; }
  const span = document.createElement("span");
  span.className = stream;
  span.textContent = data;
  out.appendChild(span);
}

// Set a duration element's times and text (it ticks while `finished` is empty).
function setDuration(el, started, finished) {
  el.dataset.started = started || ""; el.dataset.finished = finished || "";
  el.textContent = duration(started, finished);
}

function followTask(summary) {
  const task = summary.dataset.task;
  const total = Number(summary.dataset.total);
  const dry = summary.dataset.diff !== undefined;
  const state = document.getElementById("stream-state");
  const statusOf = new Map();
  const warned = new Set();
  const rows = new Map();
  const filter = { status: "", search: "", digest: "", reason: "", cursor: null, shown: 0, generation: 0 };
  const tbody = document.querySelector("#target-table tbody");
  const more = document.getElementById("targets-more");
  const shown = document.getElementById("targets-shown");
  const targetsSection = document.getElementById("targets");
  let host = null;
  let groupsCursor = null;
  let groupsDirty = false;
  const taskDuration = document.getElementById("task-duration");
  let lastFinished = "";

  // Counts from the statuses seen: a target with no frame yet is still queued.
  const renderCounts = () => {
    const counts = { queued: total - statusOf.size, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const s of statusOf.values()) counts[s] = (counts[s] || 0) + 1;
    for (const [s, n] of Object.entries(counts)) {
      const el = summary.querySelector(`[data-count="${s}"]`);
      if (el) el.textContent = n;
    }
    const ended = counts.succeeded + counts.failed + counts.cancelled;
    document.getElementById("progress").value = ended;
    summary.querySelector('[data-field="ended"]').textContent = ended;
    const warnedLine = document.getElementById("warned");
    warnedLine.querySelector('[data-field="warned-count"]').textContent = warned.size;
    warnedLine.hidden = warned.size === 0;
  };
  let countsQueued = false;
  const queueCounts = () => {
    if (countsQueued) return;
    countsQueued = true;
    requestAnimationFrame(() => { countsQueued = false; renderCounts(); });
  };

  const fillRow = (tr, t) => {
    setBadge(tr.querySelector('[data-field="status"]'), t.status);
    tr.querySelector('[data-field="exit"]').textContent = exitText(t);
    tr.querySelector('[data-field="changed"]').textContent = changedText(t, dry);
    setDuration(tr.querySelector('[data-field="duration"]'), t.started_at, t.finished_at);
    const note = t.error ? firstLine(t.error) : (t.warnings && t.warnings.length ? "⚠ " + t.warnings[0] : "");
    const e = tr.querySelector('[data-field="error"]');
    e.textContent = note; e.className = t.error ? "error" : "warn";
  };

  const makeRow = (t) => {
    const tr = document.createElement("tr");
    tr.dataset.platform = t.platform_id;
    tr.innerHTML = '<th scope="row"></th><td><span class="badge" data-field="status"></span></td>'
      + '<td><span data-field="exit"></span> <span data-field="changed"></span></td>'
      + '<td><span data-field="duration"></span></td><td data-field="error"></td>'
      + '<td><button type="button" class="secondary show-output"></button></td>';
    tr.querySelector("th").textContent = t.platform_name;
    const b = tr.querySelector(".show-output");
    b.textContent = "Output";
    b.setAttribute("aria-label", "Output of " + t.platform_name);
    b.onclick = () => openHost(t.platform_id, t.platform_name, true);
    fillRow(tr, t);
    return tr;
  };

  // A group's own status is part of the group, not a second filter.
  const describeFilter = () => [!filter.digest && filter.status && "status " + filter.status, filter.search && `“${filter.search}”`,
    filter.digest && "one output group"].filter(Boolean).join(", ");

  // Load the next page of the table (the first when `reset`); a late answer to an older filter is dropped.
  const loadTargets = async (reset) => {
    if (reset) { filter.cursor = null; filter.shown = 0; filter.generation++; rows.clear(); tbody.replaceChildren(); }
    const generation = filter.generation;
    const q = new URLSearchParams({ limit: TASK_PAGE });
    if (filter.status) q.set("status", filter.status);
    if (filter.search) q.set("search", filter.search);
    // A group is its digest, status and failure reason ("" for none).
    if (filter.digest) { q.set("output_digest", filter.digest); q.set("error_reason", filter.reason); }
    if (filter.cursor) q.set("cursor", filter.cursor);
    more.disabled = true;
    const { ok, status, data } = await api("GET", `/api/tasks/${task}/targets?${q}`);
    more.disabled = false;
    if (generation !== filter.generation) return;
    clearProblem(targetsSection);
    if (!ok) { showProblem(targetsSection, data, status); return; }
    for (const t of data.items) {
      const tr = makeRow(t);
      rows.set(t.platform_id, tr);
      tbody.appendChild(tr);
    }
    filter.shown += data.items.length;
    filter.cursor = data.next_cursor;
    more.hidden = !data.next_cursor;
    const of = describeFilter();
    shown.textContent = `${filter.shown}${data.next_cursor ? "+" : ""} target(s) shown${of ? " (" + of + ")" : ""}`;
    if (reset && total === 1 && data.items.length === 1 && !host) openHost(data.items[0].platform_id, data.items[0].platform_name, false);
  };

  const setStatusFilter = (s) => {
    filter.status = s; filter.digest = "";
    document.getElementById("t-status").value = s;
    summary.querySelectorAll("button.count").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.status === s)));
    loadTargets(true);
  };
  summary.querySelectorAll("button.count").forEach((b) => {
    b.onclick = () => setStatusFilter(b.getAttribute("aria-pressed") === "true" ? "" : b.dataset.status);
  });
  document.getElementById("target-filter").addEventListener("submit", (ev) => {
    ev.preventDefault();
    ev.stopImmediatePropagation();
    filter.search = document.getElementById("t-search").value.trim();
    setStatusFilter(document.getElementById("t-status").value);
  });
  more.onclick = () => loadTargets(false);

  // One host's output: its own pane, fed by WS /ws/tasks/{id}?platform_id= (replay, then live).
  // Focus moves to it only when the user asked for it (not for a one-target task's own pane).
  const openHost = (platform, name, focus) => {
    closeHost();
    const pane = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
    pane.dataset.platform = platform;
    pane.querySelector('[data-field="name"]').textContent = name;
    pane.querySelector('[data-field="name"]').id = "h-" + platform;
    pane.setAttribute("aria-labelledby", "h-" + platform);
    const out = pane.querySelector(".output");
    out.setAttribute("aria-label", "Output of " + name);
    const status = statusOf.get(platform);
    if (status) setBadge(pane.querySelector('[data-field="status"]'), status);
    pane.querySelector(".close").onclick = closeHost;
    document.getElementById("host").replaceChildren(pane);
    let last = 0;
    let closed = false;
    let ws = null;
    const connect = () => {
      ws = new WebSocket(wsUrl(`/ws/tasks/${task}?platform_id=${encodeURIComponent(platform)}`));
      ws.onmessage = (m) => {
        const f = JSON.parse(m.data);
        if (f.seq <= last) return;
        last = f.seq;
        if (f.type === "output") {
          appendOutput(out, f.stream, f.data, dry);
          out.scrollTop = out.scrollHeight;
        } else if (f.type === "target") {
          setBadge(pane.querySelector('[data-field="status"]'), f.status);
          pane.querySelector('[data-field="exit"]').textContent = exitText(f);
          pane.querySelector('[data-field="changed"]').textContent = changedText(f, dry);
          setDuration(pane.querySelector('[data-field="duration"]'), f.started_at, f.finished_at);
          const e = pane.querySelector('[data-field="error"]');
          e.textContent = f.error || ""; e.hidden = !f.error;
          setWarnings(pane.querySelector('[data-field="warnings"]'), f.warnings || []);
        } else if (f.type === "done") {
          closed = true;
        }
      };
      ws.onclose = () => { if (!closed) setTimeout(connect, 2000); };
    };
    host = { platform, close: () => { closed = true; if (ws) ws.close(); } };
    connect();
    if (focus) pane.querySelector(".close").focus();
  };
  const closeHost = () => {
    if (!host) return;
    host.close();
    host = null;
    document.getElementById("host").replaceChildren();
  };

  // Output groups: a page at a time; a group's sample output is read (one page, bounded) when opened.
  const groupList = document.getElementById("group-list");
  const groupsMore = document.getElementById("groups-more");
  const loadGroups = async (reset) => {
    if (reset) groupsCursor = null;
    const q = new URLSearchParams({ limit: GROUP_PAGE });
    if (groupsCursor) q.set("cursor", groupsCursor);
    const { ok, data } = await api("GET", `/api/tasks/${task}/output_groups?${q}`);
    if (!ok) return;
    const made = data.items.map(makeGroup);
    if (reset) groupList.replaceChildren(...made); else groupList.append(...made);
    if (reset && !made.length) groupList.textContent = "No target has ended yet.";
    groupsCursor = data.next_cursor;
    groupsMore.hidden = !data.next_cursor;
  };
  groupsMore.onclick = () => loadGroups(false);
  const makeGroup = (g) => {
    const d = document.createElement("details");
    d.className = "group";
    d.dataset.digest = g.output_digest;
    const sum = document.createElement("summary");
    const badge = document.createElement("span");
    setBadge(badge, g.status);
    const hosts = g.count === 1 ? g.sample.platform_name : `${g.count} hosts`;
    const what = g.output_bytes ? `printed ${bytesText(g.output_bytes)}` : "printed nothing";
    sum.append(`${hosts} `, badge, ` ${what}` + (g.count > 1 ? ` (e.g. ${g.sample.platform_name})` : ""));
    // A group's reason leaves out what names one host; a single host shows its own error.
    const err = g.count > 1 && g.sample.error_reason ? g.sample.error_reason : g.sample.error ? firstLine(g.sample.error) : "";
    if (err) { const e = document.createElement("span"); e.className = "error"; e.textContent = " · " + err; sum.append(e); }
    const list = document.createElement("button");
    list.type = "button"; list.className = "secondary";
    list.textContent = g.count === 1 ? "Show in the table" : `List these ${g.count} hosts`;
    list.onclick = () => {
      filter.status = g.status; filter.search = ""; filter.digest = g.output_digest; filter.reason = g.sample.error_reason || "";
      document.getElementById("t-status").value = g.status; document.getElementById("t-search").value = "";
      loadTargets(true);
      targetsSection.scrollIntoView();
    };
    const out = document.createElement("pre");
    out.className = "output";
    out.tabIndex = 0;
    out.setAttribute("aria-label", "Output of " + hosts);
    d.append(sum, list, out);
    d.addEventListener("toggle", async () => {
      if (!d.open || d.dataset.loaded) return;
      d.dataset.loaded = "1";
      if (!g.output_bytes) { out.textContent = "(no output)"; return; }
      const { ok, status, data } = await api("GET", `/api/tasks/${task}/output?platform_id=${encodeURIComponent(g.sample.platform_id)}&limit=200`);
      if (!ok) { out.textContent = (data && data.detail) || `request failed (${status})`; return; }
      for (const c of data.items) appendOutput(out, c.stream, c.data, dry);
      if (data.next_after_seq) {
        const n = document.createElement("p");
        n.className = "meta";
        n.textContent = "The beginning only: open the host's output for all of it.";
        d.append(n);
      }
    });
    return d;
  };

  // Targets that end change the groups: reload the first page, at most every 3 s.
  setInterval(() => { if (groupsDirty) { groupsDirty = false; loadGroups(true); } }, 3000);

  const connect = () => {
    let last = 0;
    const ws = new WebSocket(wsUrl(`/ws/tasks/${task}?output=none`));
    ws.onopen = () => { state.textContent = "live"; };
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data);
      if (f.seq <= last) return;
      last = f.seq;
      if (f.type === "target") {
        // The task's own times: its first target's start and (once done) its last one's end.
        if (f.started_at && !taskDuration.dataset.started) taskDuration.dataset.started = f.started_at;
        if (f.finished_at && (!lastFinished || new Date(f.finished_at) > new Date(lastFinished))) lastFinished = f.finished_at;
        const before = statusOf.get(f.platform_id);
        statusOf.set(f.platform_id, f.status);
        if (f.warnings && f.warnings.length) warned.add(f.platform_id); else warned.delete(f.platform_id);
        queueCounts();
        const overall = document.getElementById("task-status");
        if (f.status === "running" && overall.textContent === "queued") setBadge(overall, "running");
        const tr = rows.get(f.platform_id);
        if (tr) fillRow(tr, f);
        if (before !== f.status && ["succeeded", "failed", "cancelled"].includes(f.status)) groupsDirty = true;
      } else if (f.type === "done") {
        setBadge(document.getElementById("task-status"), f.status);
        const c = document.getElementById("cancel");
        if (c) c.hidden = true;
        state.textContent = "finished";
        if (!taskDuration.dataset.finished && lastFinished) setDuration(taskDuration, taskDuration.dataset.started, lastFinished);
        groupsDirty = false;
        loadGroups(true);
      }
    };
    // A reconnect replays from seq 1; the statuses it repeats set the same values again.
    ws.onclose = () => {
      if (state.textContent !== "finished") { state.textContent = "reconnecting…"; setTimeout(connect, 2000); }
    };
  };
  setDuration(taskDuration, taskDuration.dataset.started, taskDuration.dataset.finished);
  // Running durations tick: every second, each visible one without an end is written again.
  setInterval(() => document.querySelectorAll('[data-started]:not([data-started=""])[data-finished=""]').forEach((el) => {
    el.textContent = duration(el.dataset.started, null);
  }), 1000);
  loadTargets(true);
  loadGroups(true);
  connect();
}

// Import page: Preview (dry run) and Import send the form to its `data-import` URL; the answer
// becomes a summary, a table of rows (every row of a preview; refused and changed ones after an
// import) and notes. A refused real run (422 naming rows[LINE] or lines[LINE]) fills the table
// with the refusals.
async function submitImport(ev) {
  const form = ev.target.closest("form[data-import]");
  if (!form) return;
  ev.preventDefault();
  clearProblem(form);
  const out = form.querySelector(".import-result");
  const buttons = form.querySelectorAll('[type="submit"]');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const body = formBody(form);
    body.dry_run = !!(ev.submitter && ev.submitter.dataset.dryRun !== undefined);
    const { ok, status, data } = await api("POST", form.dataset.import, body);
    if (ok) { showImport(out, form.dataset.kind, form.dataset.kind === "known_hosts" ? knownHostsRows(data) : data); return; }
    const refusals = ((data && data.errors) || []).filter((e) => /^(rows|lines)\[\d+\]/.test(e.field));
    if (!refusals.length) { out.hidden = true; showProblem(form, data, status); return; }
    showImport(out, form.dataset.kind, {
      summary: data.detail,
      results: refusals.map((e) => ({ line: Number(/\[(\d+)\]/.exec(e.field)[1]), action: "refused", detail: e.field + ": " + e.message })),
    });
  } catch (err) {
    showProblem(form, { detail: "the server cannot be reached: " + err.message }, 0);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// A known_hosts import's rows (`{line, platform, status, reason, key_type, fingerprint}`) in the
// shape of the other imports' rows.
function knownHostsRows(d) {
  const results = (d.results || []).map((r) => ({
    line: r.line, name: r.platform || "", action: r.status,
    detail: r.reason || [r.key_type, r.fingerprint].filter(Boolean).join(" "),
  }));
  return { ...d, results };
}

function importSummary(kind, d) {
  if (d.summary) return d.summary;
  const pre = d.dry_run ? "Preview: " : "Imported: ";
  if (kind === "known_hosts") {
    return `${pre}${d.pinned} host key(s) ${d.dry_run ? "to pin" : "pinned"}, ${d.unchanged} already pinned, ${d.refused} refused`;
  }
  return kind === "keys"
    ? `${pre}${d.created} ${d.dry_run ? "to register" : "registered"}, ${d.exists} already registered, ${d.refused} refused, ${d.skipped} blank or comment lines`
    : `${pre}${d.created} ${d.dry_run ? "to create" : "created"}, ${d.updated} ${d.dry_run ? "to update" : "updated"}, ${d.unchanged} unchanged, ${d.refused} refused (${d.format})`;
}

function showImport(out, kind, d) {
  out.querySelector('[data-field="summary"]').textContent = importSummary(kind, d);
  const rows = (d.results || []).filter((r) => d.dry_run || d.summary || ["refused", "update", "pinned", "invalid"].includes(r.action) || r.note);
  out.querySelector("tbody").replaceChildren(...rows.slice(0, 5000).map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.action = r.action;
    const detail = r.detail || (r.errors || []).map((e) => e.field + ": " + e.message).join("; ")
      || (r.changes || []).join(", ") || [r.error, r.note, r.fingerprint].filter(Boolean).join(" · ");
    const cell = () => tr.appendChild(document.createElement("td"));
    cell().textContent = String(r.line);
    cell().textContent = r.name || "";
    const badge = document.createElement("span"); setBadge(badge, r.action); cell().appendChild(badge);
    cell().textContent = detail;
    return tr;
  }));
  out.querySelector('[data-field="notes"]').replaceChildren(...(d.notes || []).map((n) => {
    const li = document.createElement("li"); li.textContent = (n.line ? "line " + n.line + ": " : "") + n.message; return li;
  }));
  out.hidden = false;
}

// A file picked for an import also chooses the format by its extension.
function formatFromFile(ev) {
  const input = ev.target;
  if (!input.dataset || !input.dataset.format || !input.files.length) return;
  const name = input.files[0].name.toLowerCase();
  const ext = { csv: "csv", json: "json", ini: "ansible_ini", yml: "ansible_yaml", yaml: "ansible_yaml", conf: "ssh_config" }[name.split(".").pop()];
  const format = ext || (name === "config" ? "ssh_config" : "");
  document.getElementById(input.dataset.format).value = format;
}

// Host key changed (platform page, admins): "Trust the new key…" opens a dialog showing the
// presented fingerprint to check on the host; confirming pins exactly that key (type and
// fingerprint, so a third key presented meanwhile is not trusted) and queues a scan that
// confirms the host answers with it.
async function trustHostKey(ev) {
  const open = ev.target.closest("#trust-open");
  const dialog = document.getElementById("trust-dialog");
  if (!dialog) return;
  if (open) { clearProblem(dialog); dialog.showModal(); return; }
  if (ev.target.closest("#trust-cancel")) { dialog.close(); return; }
  const confirmButton = ev.target.closest("#trust-confirm");
  if (!confirmButton) return;
  clearProblem(dialog);
  confirmButton.disabled = true;
  const id = dialog.dataset.platform;
  try {
    const trusted = await api("POST", `/api/platforms/${id}/host_key/trust`,
      { host_key_fingerprint: dialog.dataset.fingerprint, host_key_type: dialog.dataset.keyType });
    if (!trusted.ok) { showProblem(dialog, trusted.data, trusted.status); return; }
    const scan = await api("POST", "/api/tasks", { kind: "scan", platform_ids: [id] });
    if (!scan.ok) { showProblem(dialog, scan.data, scan.status); return; }
    location.href = "/ui/tasks/" + scan.data.task_id;
  } catch (err) {
    showProblem(dialog, { detail: "the server cannot be reached: " + err.message }, 0);
  } finally {
    confirmButton.disabled = false;
  }
}
document.addEventListener("click", trustHostKey);

document.addEventListener("submit", submitImport);
document.addEventListener("change", formatFromFile);
// Live count of a selector input (`data-match="ID"`: the element that shows the count): as the
// user types, GET /api/platforms/match after a pause; the count and the first names, or the
// syntax error (with its position) in the input's `.selector-error` slot. A late answer to an
// older text is dropped.
const matchTimers = new WeakMap();
const matchAsked = new WeakMap();
function matchSelector(ev) {
  const input = ev.target.closest("input[data-match]");
  if (!input) return;
  clearTimeout(matchTimers.get(input));
  matchTimers.set(input, setTimeout(() => countMatches(input), 300));
}
async function countMatches(input) {
  const out = document.getElementById(input.dataset.match);
  const slot = input.parentElement.querySelector(".selector-error");
  const text = input.value.trim();
  matchAsked.set(input, text);
  const show = (count, error) => {
    if (matchAsked.get(input) !== text) return;
    out.textContent = count;
    if (slot) slot.textContent = error;
    if (error) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  };
  if (!text) { show("", ""); return; }
  try {
    const { ok, status, data } = await api("GET", "/api/platforms/match?selector=" + encodeURIComponent(text));
    if (ok) {
      const names = data.platforms.map((p) => p.name).join(", ");
      const more = data.count > data.platforms.length ? ", …" : "";
      show(data.count === 1 ? "1 platform matches: " + names : `${data.count} platforms match${data.count ? ": " + names + more : ""}`, "");
    } else {
      const e = ((data && data.errors) || []).find((x) => x.field === "selector");
      show("", e ? e.message : (data && data.detail) || `request failed (${status})`);
    }
  } catch (err) {
    show("", "the server cannot be reached: " + err.message);
  }
}

// An empty selector stays out of a filter's URL (`?state=drift`, not `&selector=`).
function dropEmptySelector(ev) {
  if (!ev.target.matches("form.filters")) return;
  ev.target.querySelectorAll("input.selector").forEach((i) => { if (!i.value.trim()) i.disabled = true; });
}
window.addEventListener("pageshow", () => document.querySelectorAll("input.selector").forEach((i) => { i.disabled = false; }));

document.addEventListener("input", matchSelector);
document.addEventListener("submit", dropEmptySelector);
document.addEventListener("submit", submitForm);
document.addEventListener("click", clickAction);
document.addEventListener("change", fillFromFile);
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("summary");
  if (summary) followTask(summary);
  const users = document.getElementById("users");
  if (users) loadUsers(users);
  document.querySelectorAll("input[data-match]").forEach((i) => { if (i.value.trim()) countMatches(i); });
});

// Users page (admins): list from GET /api/users; role, enable/disable through PATCH.
async function loadUsers(table) {
  const body = table.querySelector("tbody");
  const { ok, status, data } = await api("GET", "/api/users?limit=500");
  if (!ok) { showProblem(document.querySelector("main"), data, status); body.innerHTML = ""; return; }
  const roles = table.dataset.roles.split(",");
  body.replaceChildren(...(data.items || []).map((u) => {
    const tr = document.createElement("tr");
    const cell = (t) => { const td = document.createElement("td"); td.textContent = t; tr.appendChild(td); return td; };
    cell(u.username);
    const sel = document.createElement("select");
    sel.setAttribute("aria-label", "Role of " + u.username);
    // "none": no fleet-wide role (null), only what grants give.
    for (const r of roles) { const o = document.createElement("option"); o.textContent = r; o.selected = r === (u.role || "none"); sel.appendChild(o); }
    sel.onchange = () => patchUser(u.id, { role: sel.value === "none" ? null : sel.value });
    cell("").appendChild(sel);
    cell(u.disabled ? "disabled" : "enabled");
    twoFactorCell(cell(u.totp_enabled ? "on" : "off"), u);
    cell((u.created_at || "").replace("T", " ").slice(0, 19) + "Z");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = u.disabled ? "Enable" : "Disable";
    b.onclick = () => patchUser(u.id, { disabled: !u.disabled });
    cell("").appendChild(b);
    return tr;
  }));
}

// A user's two-factor cell: on/off, the "required" box (PATCH require_totp) and, when it is on or
// pending, a reset (DELETE /api/users/{id}/totp) for a user who lost the phone.
function twoFactorCell(td, u) {
  td.dataset.errorScope = "";
  const label = document.createElement("label");
  label.className = "check";
  const box = document.createElement("input");
  box.type = "checkbox"; box.checked = u.require_totp;
  box.setAttribute("aria-label", "Require two-factor sign-in of " + u.username);
  box.onchange = () => patchUser(u.id, { require_totp: box.checked });
  label.append(box, "required");
  td.appendChild(label);
  if (u.totp_enabled) {
    const reset = document.createElement("button");
    reset.type = "button"; reset.className = "danger";
    reset.textContent = "Reset";
    reset.setAttribute("aria-label", "Reset two-factor sign-in of " + u.username);
    reset.dataset.delete = `/api/users/${u.id}/totp`;
    reset.dataset.confirm = `Reset two-factor sign-in of ${u.username}? They sign in with the password alone until they set it up again.`;
    td.appendChild(reset);
  }
}

async function patchUser(id, change) {
  const main = document.querySelector("main");
  clearProblem(main);
  const { ok, status, data } = await api("PATCH", "/api/users/" + id, change);
  if (!ok) showProblem(main, data, status); else location.reload();
}
