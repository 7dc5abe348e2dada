// testum web UI, keys: the key picker of the deploy and revoke forms, and the one-line success
// message an add form leaves for the page it reloads. Kept apart from app.js (which submits the
// forms) so the two change independently; it needs app.js's `api` (loaded first).
"use strict";

// ---- Key picker ---------------------------------------------------------------------------
// `.key-picker`: a search field, a list of matching keys with checkboxes, the chosen keys as
// chips with a remove button, and a hidden `<select name="key_ids" multiple>` holding the chosen
// ids, which app.js's formBody sends as `key_ids` (and `data-options="key_ids"` reads).
// Candidates come from GET /api/keys?q= (debounced, 20 at a time: a registry of thousands is
// never embedded in the page), or from the picker's `data-candidates` (JSON) when the page knows
// the short list (a platform's own keys). In `data-mode="deploy"` expired keys are shown, marked
// and disabled: the API refuses to deploy them, so offering them would only lead to a 422.
// Keyboard: ArrowDown from the field goes into the list, ArrowUp/ArrowDown move in it, Space
// ticks, Escape goes back to the field; Enter in the field ticks the first match.
const PICKER_PAGE = 20;
const PICKER_DELAY_MS = 250;

function keyExpiry(key, soonDays) {
  if (!key.expires_at) return "";
  const left = new Date(key.expires_at) - new Date();
  return left <= 0 ? "expired" : left <= soonDays * 86400000 ? "soon" : "";
}

function setupKeyPicker(root) {
  const input = root.querySelector('input[type="search"]');
  const list = root.querySelector(".picker-list");
  const chips = root.querySelector(".chips");
  const status = root.querySelector(".picker-status");
  const select = root.querySelector("select");
  const deploy = root.dataset.mode === "deploy";
  const soonDays = Number(root.dataset.soonDays || 14);
  const embedded = root.dataset.candidates ? JSON.parse(root.dataset.candidates) : null;
  const chosen = new Map();
  let asked = 0;
  let timer = null;

  const sync = () => {
    select.replaceChildren(...[...chosen].map(([id, k]) => new Option(k.name, id, true, true)));
    chips.replaceChildren(...[...chosen].map(([id, k]) => {
      const li = document.createElement("li");
      li.className = "chip";
      li.dataset.key = id;
      const name = document.createElement("span");
      name.textContent = k.name;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + k.name);
      remove.onclick = () => {
        chosen.delete(id);
        const box = list.querySelector(`input[value="${CSS.escape(id)}"]`);
        if (box) box.checked = false;
        sync();
        input.focus();
      };
      li.append(name, remove);
      return li;
    }));
  };

  const item = (k) => {
    const li = document.createElement("li");
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = k.id;
    box.checked = chosen.has(k.id);
    const expiry = keyExpiry(k, soonDays);
    box.disabled = deploy && expiry === "expired" && !box.checked;
    box.onchange = () => {
      if (box.checked) chosen.set(k.id, k); else chosen.delete(k.id);
      sync();
    };
    const name = document.createElement("span");
    name.className = "key-name";
    name.textContent = k.name;
    const meta = document.createElement("small");
    meta.textContent = [k.owner, k.fingerprint].filter(Boolean).join(" · ");
    label.append(box, " ", name, " ", meta);
    if (expiry) {
      const badge = document.createElement("span");
      badge.className = "badge " + expiry;
      badge.textContent = expiry === "expired" ? (deploy ? "expired: cannot be deployed" : "expired") : "expiring soon";
      label.append(" ", badge);
    }
    li.append(label);
    return li;
  };

  const show = (keys, more) => {
    list.replaceChildren(...keys.map(item));
    const n = keys.length;
    status.textContent = n === 0 ? "No key matches." : `${n}${more ? "+" : ""} key(s) shown${more ? ": type more to narrow" : ""}.`;
  };

  const search = async () => {
    const q = input.value.trim();
    const mine = ++asked;
    if (embedded) {
      const low = q.toLowerCase();
      show(embedded.filter((k) => !low || [k.name, k.comment, k.fingerprint].some((t) => (t || "").toLowerCase().includes(low))), false);
      return;
    }
    const query = new URLSearchParams({ limit: PICKER_PAGE });
    if (q) query.set("q", q);
    status.textContent = "Searching…";
    const { ok, status: code, data } = await api("GET", "/api/keys?" + query);
    if (mine !== asked) return;
    if (!ok) { list.replaceChildren(); status.textContent = (data && ((data.errors && data.errors[0] && data.errors[0].message) || data.detail)) || `request failed (${code})`; return; }
    show(data.items, !!data.next_cursor);
  };

  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, PICKER_DELAY_MS); });
  input.addEventListener("focus", () => { if (!list.children.length) search(); });
  input.addEventListener("keydown", (ev) => {
    const boxes = [...list.querySelectorAll("input:not(:disabled)")];
    if (ev.key === "ArrowDown" && boxes.length) { ev.preventDefault(); boxes[0].focus(); }
    if (ev.key === "Enter") {
      ev.preventDefault();
      const first = boxes.find((b) => !b.checked);
      if (first) { first.checked = true; first.dispatchEvent(new Event("change")); }
    }
  });
  list.addEventListener("keydown", (ev) => {
    const boxes = [...list.querySelectorAll("input:not(:disabled)")];
    const at = boxes.indexOf(document.activeElement);
    if (ev.key === "ArrowDown" && at >= 0 && at < boxes.length - 1) { ev.preventDefault(); boxes[at + 1].focus(); }
    if (ev.key === "ArrowUp") { ev.preventDefault(); (at > 0 ? boxes[at - 1] : input).focus(); }
    if (ev.key === "Escape") { ev.preventDefault(); input.focus(); }
  });
  if (embedded) search();
}

// ---- Success message -----------------------------------------------------------------------
// A form with `data-success` ("Key “{name}” added.") leaves its message, with the created
// object's name, for the page that app.js reloads; that page shows it in its `.flash` line.
const FLASH = "testum-flash";

document.addEventListener("testum:saved", (ev) => {
  const form = ev.target;
  if (form.dataset && form.dataset.success) {
    sessionStorage.setItem(FLASH, form.dataset.success.replace("{name}", (ev.detail && ev.detail.name) || ""));
  }
});

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".key-picker").forEach(setupKeyPicker);
  const message = sessionStorage.getItem(FLASH);
  const line = document.querySelector(".flash");
  if (message && line) { line.textContent = message; line.hidden = false; }
  sessionStorage.removeItem(FLASH);
});
