// testum web UI, platforms page (/ui/platforms): which set the task forms act on, and bulk
// delete. Loaded after app.js, whose formBody sends `selector` (the #task-selector input) when it
// is filled, else the ticked `[data-select=platform_ids]` boxes.
//
// - "Act on": "the platforms ticked on this page", or "all N matching the filters": then the
//   task selector holds the page's composed selector (#matching[data-selector]).
// - #targets-summary always says which set and how many: "Targets: 12 ticked" or
//   "Targets: all 287 matching `tag:web`".
// - The filters form leaves its empty fields, and those at their `data-default`, out of the URL.
// - Delete: the targets (ticked ids, or every id the selector matches, read from
//   GET /api/platforms 500 at a time) after a confirmation naming the count, one audited
//   DELETE /api/platforms/{id} each.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ticked = () => [...document.querySelectorAll('[data-select="platform_ids"]:checked')];
  const matching = () => $("matching");
  const taskSelector = () => $("task-selector");

  // What the task forms will target: {kind: "ticked", ids} or {kind: "selector", text, count}.
  function targets() {
    const text = taskSelector() ? taskSelector().value.trim() : "";
    if (!text) return { kind: "ticked", ids: ticked().map((c) => c.value) };
    const m = matching();
    if (m && m.dataset.selector === text) return { kind: "selector", text, count: Number(m.dataset.count) };
    const live = /^(\d+) platforms? match/.exec(($("task-selector-count") || {}).textContent || "");
    return { kind: "selector", text, count: live ? Number(live[1]) : null };
  }

  function summarize() {
    const out = $("targets-summary");
    if (!out) return;
    const t = targets();
    const strong = document.createElement("strong");
    if (t.kind === "ticked") {
      strong.textContent = `Targets: ${t.ids.length} ticked on this page`;
    } else {
      strong.append(`Targets: all ${t.count == null ? "…" : t.count} matching `);
      const code = document.createElement("code");
      code.textContent = t.text;
      strong.append(code);
    }
    out.replaceChildren(strong);
    const m = matching();
    const mode = t.kind === "ticked" ? "ticked" : m && m.dataset.selector === t.text ? "matching" : "";
    document.querySelectorAll('input[name="target-mode"]').forEach((r) => { r.checked = r.value === mode; });
    const all = $("tick-page");
    if (all) {
      const boxes = document.querySelectorAll('[data-select="platform_ids"]');
      all.checked = boxes.length > 0 && t.kind === "ticked" && t.ids.length === boxes.length;
    }
  }

  function chooseMode(ev) {
    const radio = ev.target.closest('input[name="target-mode"]');
    if (!radio || !taskSelector()) return;
    taskSelector().value = radio.value === "matching" && matching() ? matching().dataset.selector : "";
    taskSelector().dispatchEvent(new Event("input", { bubbles: true }));
  }

  function tickPage(ev) {
    if (ev.target.id !== "tick-page") return;
    document.querySelectorAll('[data-select="platform_ids"]').forEach((c) => { c.checked = ev.target.checked; });
    if (taskSelector()) taskSelector().value = "";
  }

  function dropEmptyFilters(ev) {
    if (ev.target.id !== "platform-filters") return;
    for (const el of ev.target.elements) {
      if (el.name && (!el.value.trim() || el.value === el.dataset.default)) el.disabled = true;
    }
  }

  // Every platform id the selector `text` matches (GET /api/platforms, 500 a page).
  async function idsMatching(text) {
    const ids = [];
    let cursor = "";
    do {
      const url = "/api/platforms?limit=500&sort=name&selector=" + encodeURIComponent(text) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      const { ok, status, data } = await api("GET", url);
      if (!ok) throw new Error((data && data.detail) || `listing failed (${status})`);
      ids.push(...data.items.map((p) => p.id));
      cursor = data.next_cursor || "";
    } while (cursor);
    return ids;
  }

  async function deleteTargets(ev) {
    if (ev.target.id !== "delete-targets-button") return;
    const section = $("delete-targets");
    const top = section.querySelector(".form-error");
    const fail = (message) => { top.textContent = message; top.hidden = false; };
    top.hidden = true;
    const t = targets();
    let ids;
    try {
      ids = t.kind === "ticked" ? t.ids : await idsMatching(t.text);
    } catch (err) {
      fail(err.message);
      return;
    }
    if (!ids.length) { fail("No platform is targeted: tick some, or act on all matching."); return; }
    const what = t.kind === "ticked" ? "ticked" : `matching ${t.text}`;
    if (!confirm(`Delete ${ids.length} platform${ids.length === 1 ? "" : "s"} (${what})? This cannot be undone.`)) return;
    const forget = $("delete-forget-keys") && $("delete-forget-keys").checked ? "?forget_keys=true" : "";
    ev.target.disabled = true;
    const failed = [];
    for (const id of ids) {
      const { ok, status, data } = await api("DELETE", `/api/platforms/${id}${forget}`);
      if (!ok && status !== 404) failed.push((data && data.detail) || `${id}: ${status}`);
    }
    ev.target.disabled = false;
    if (failed.length) fail(`${ids.length - failed.length} deleted, ${failed.length} not: ${failed.slice(0, 3).join("; ")}${failed.length > 3 ? "; …" : ""}`);
    else location.reload();
  }

  document.addEventListener("change", (ev) => { chooseMode(ev); tickPage(ev); summarize(); });
  // The page's tick-all box fires `input` before `change`: summarizing then would reset it from
  // the rows before `tickPage` has ticked them.
  document.addEventListener("input", (ev) => { if (ev.target.id !== "tick-page") summarize(); });
  document.addEventListener("submit", dropEmptyFilters);
  document.addEventListener("click", deleteTargets);
  // The live count of a typed selector arrives later: summarize again when it does.
  document.addEventListener("DOMContentLoaded", () => {
    const count = $("task-selector-count");
    if (count) new MutationObserver(summarize).observe(count, { childList: true, characterData: true, subtree: true });
    summarize();
  });
  window.addEventListener("pageshow", () => {
    const form = $("platform-filters");
    if (form) for (const el of form.elements) el.disabled = false;
  });
})();
