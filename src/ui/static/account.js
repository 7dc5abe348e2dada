// Account page: set up two-factor sign-in. POST /api/users/me/totp answers the QR code (an SVG,
// shown as an image) and the key to type by hand; POST /api/users/me/totp/confirm with the app's
// code turns it on and answers the recovery codes, shown here once. Turning it off is a plain
// `data-api` form (app.js).
// API tokens: POST /api/tokens answers the secret, shown here once with how to use it (so this
// form stays on the page instead of reloading like a `data-api` one); revoking is a
// `data-delete` button (app.js).
"use strict";

async function startTotp(section, start) {
  clearProblem(section);
  start.disabled = true;
  try {
    const { ok, status, data } = await api("POST", "/api/users/me/totp");
    if (!ok) { showProblem(section, data, status); return; }
    document.getElementById("totp-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(data.qr_svg);
    // Groups of four, as apps show a key; they ignore the spaces when it is typed.
    document.getElementById("totp-secret").textContent = data.secret.match(/.{1,4}/g).join(" ");
    document.getElementById("totp-enrol").hidden = false;
    start.hidden = true;
    document.getElementById("totp-code").focus();
  } catch (err) {
    showProblem(section, { detail: "the server cannot be reached: " + err.message }, 0);
  } finally {
    start.disabled = false;
  }
}

async function confirmTotp(ev) {
  ev.preventDefault();
  const form = ev.target;
  clearProblem(form);
  const button = form.querySelector('[type="submit"]');
  button.disabled = true;
  try {
    const { ok, status, data } = await api("POST", "/api/users/me/totp/confirm", { code: form.elements.code.value });
    if (!ok) { showProblem(form, data, status); return; }
    document.getElementById("totp-enrol").hidden = true;
    document.getElementById("recovery-codes").replaceChildren(...data.recovery_codes.map((c) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = c;
      li.appendChild(code);
      return li;
    }));
    document.getElementById("totp-state").textContent = "On: signing in asks for a code of your authenticator app.";
    document.getElementById("totp-required")?.remove();
    document.getElementById("totp-done").hidden = false;
  } catch (err) {
    showProblem(form, { detail: "the server cannot be reached: " + err.message }, 0);
  } finally {
    button.disabled = false;
  }
}

async function makeToken(ev) {
  ev.preventDefault();
  const form = ev.target;
  clearProblem(form);
  const button = form.querySelector('[type="submit"]');
  button.disabled = true;
  try {
    const { ok, status, data } = await api("POST", "/api/tokens", formBody(form));
    if (!ok) { showProblem(form, data, status); return; }
    const made = document.getElementById("token-made");
    made.querySelector('[data-field="name"]').textContent = data.name;
    document.getElementById("token-secret").textContent = data.token;
    document.getElementById("token-usage").textContent = [
      `export TESTUM_URL=${location.origin}`,
      `export TESTUM_TOKEN=${data.token}`,
      "testum keys list",
      `curl -H "Authorization: Bearer $TESTUM_TOKEN" ${location.origin}/api/keys`,
    ].join("\n");
    form.hidden = true;
    document.getElementById("no-tokens")?.remove();
    made.hidden = false;
    document.getElementById("token-done").focus();
  } catch (err) {
    showProblem(form, { detail: "the server cannot be reached: " + err.message }, 0);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const tokenForm = document.getElementById("token-create");
  if (tokenForm) {
    tokenForm.addEventListener("submit", makeToken);
    // The list shows the new token once the page is read again; the secret is then gone.
    document.getElementById("token-done").addEventListener("click", () => location.reload());
  }
  const start = document.getElementById("totp-start");
  if (!start) return;
  start.addEventListener("click", () => startTotp(document.getElementById("totp"), start));
  document.getElementById("totp-confirm").addEventListener("submit", confirmTotp);
});
