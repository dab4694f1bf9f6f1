"""The two small web pages of the service: the site page and the pharmacist's page.

Plain HTML and a little JavaScript calling the JSON API with the user's session token
(from the login form, or pasted); the forms are built from the study (its eligibility fields and strata), and results are written with
``textContent`` only. When the login answers ``totp_enrolment_required``, the login form
enrols the authenticator app: it shows the new secret (base32 and the ``otpauth://`` URI, as
text: the content security policy allows no QR library) and confirms it with the app's code.
"""

from __future__ import annotations

__all__ = ["PHARMACY_PAGE", "SITE_PAGE"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
fieldset { margin: 1rem 0; border: 1px solid #bbb; border-radius: 6px; }
label { display: inline-block; min-width: 16rem; margin: .2rem 0; }
input, select { padding: .2rem; }
button { margin: .5rem 0; padding: .3rem 1rem; }
.ok { color: #064; } .bad { color: #a00; }
#confirmation { border: 2px solid #064; border-radius: 6px; padding: .5rem 1rem; }
#totp-enrol { border: 2px solid #a60; border-radius: 6px; padding: .5rem 1rem; }
#totp-secret, #totp-uri { font-family: monospace; word-break: break-all; user-select: all; }
"""

_COMMON_JS = """
const $ = (id) => document.getElementById(id);
const token = () => { const t = $("token").value.trim(); sessionStorage.setItem("token", t); return t; };
window.addEventListener("DOMContentLoaded", () => { $("token").value = sessionStorage.getItem("token") || ""; });
async function api(method, path, body) {
  const response = await fetch(path, {method, headers: {"Authorization": "Bearer " + token(),
    "Content-Type": "application/json"}, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => ({detail: "no JSON in the answer"}));
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}
function show(id, text, ok) { const el = $(id); el.textContent = text; el.className = ok ? "ok" : "bad"; }
$("login").addEventListener("click", async () => {
  const body = {username: $("username").value.trim(), password: $("password").value};
  if ($("code").value.trim()) body.totp = $("code").value.trim();
  const response = await fetch("/api/auth/login", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body)});
  const data = await response.json().catch(() => ({detail: "no JSON in the answer"}));
  $("password").value = ""; $("code").value = "";
  if (!response.ok) { show("login-status", data.detail || response.statusText, false); return; }
  $("token").value = data.token; token();
  if (data.totp_enrolment_required) { await beginTotp(body.username); return; }
  show("login-status", "logged in as " + body.username, true);
});
async function beginTotp(username) {
  try {
    const r = await api("POST", "/api/auth/totp");
    $("totp-secret").textContent = r.secret; $("totp-uri").textContent = r.uri;
    $("totp-enrol").dataset.username = username; $("totp-enrol").hidden = false;
    show("login-status", "logged in as " + username + ": enrol an authenticator app before anything else", false);
  } catch (e) { show("login-status", e.message, false); }
}
$("totp-confirm").addEventListener("click", async () => {
  try {
    await api("POST", "/api/auth/totp/confirm", {code: $("totp-code").value.trim()});
  } catch (e) { show("totp-status", e.message, false); return; }
  $("totp-code").value = ""; $("totp-secret").textContent = ""; $("totp-uri").textContent = "";
  $("totp-enrol").hidden = true; show("totp-status", "", true);
  show("login-status", "logged in as " + $("totp-enrol").dataset.username +
    "; authenticator enrolled: log in with its code from now on", true);
});
"""

_LOGIN = """<p><label for="username">User name</label> <input id="username" autocomplete="username"><br>
<label for="password">Password</label> <input id="password" type="password" autocomplete="current-password"><br>
<label for="code">Authenticator code (if enrolled)</label> <input id="code" inputmode="numeric" size="8"><br>
<button id="login">Log in</button> <span id="login-status"></span></p>
<div id="totp-enrol" hidden>
<p>Your role needs an authenticator app. Add this account to the app with the secret key (or the
otpauth:// URI), then type the code the app shows.</p>
<p>Secret key: <span id="totp-secret"></span><br>URI: <span id="totp-uri"></span></p>
<p><label for="totp-code">Code from the app</label> <input id="totp-code" inputmode="numeric" size="8"
autocomplete="one-time-code"> <button id="totp-confirm">Confirm</button> <span id="totp-status"></span></p>
</div>
<p><label for="token">Session token</label> <input id="token" type="password" size="40">"""

SITE_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Randomisation: site</title>
<style>{_STYLE}</style></head>
<body>
<h1>Randomisation: site</h1>
{_LOGIN}
<button id="load">Load study</button> <span id="study-status"></span></p>
<fieldset><legend>1. Screening</legend>
<label for="subject">Subject (USUBJID)</label> <input id="subject"><br>
<label for="site">Site</label> <input id="site"><br>
<div id="criteria"></div>
<button id="screen">Screen</button>
<pre id="screen-result"></pre>
</fieldset>
<fieldset><legend>2. Randomisation</legend>
<div id="strata"></div>
<button id="randomise">Randomise</button> <span id="randomise-status"></span>
</fieldset>
<div id="confirmation" hidden>
<h2>Confirmation</h2>
<p>Subject <b id="c-subject"></b> randomised at <span id="c-time"></span> by <span id="c-by"></span>.</p>
<p>Randomisation number <b id="c-randno"></b>, kit number <b id="c-kit"></b>, stratum <span id="c-stratum"></span>.</p>
<p>Give the kit number to the pharmacist; the treatment stays blinded.</p>
</div>
<script>
{_COMMON_JS}
let study = null;
async function loadStudy() {{
  try {{
    study = await api("GET", "/api/study");
    show("study-status", study.name, true);
    const criteria = $("criteria"); criteria.replaceChildren();
    const seen = new Set();
    for (const rule of study.eligibility) {{
      if (seen.has(rule.field)) continue; seen.add(rule.field);
      const label = document.createElement("label"); label.htmlFor = "f-" + rule.field; label.textContent = rule.text;
      const input = document.createElement("input"); input.id = "f-" + rule.field; input.dataset.field = rule.field;
      input.dataset.op = rule.op;
      if (rule.op === "is_true") input.type = "checkbox"; else {{ input.type = "number"; input.step = "any"; }}
      criteria.append(label, " ", input, document.createElement("br"));
    }}
    const strata = $("strata"); strata.replaceChildren();
    for (const [factor, levels] of Object.entries(study.strata)) {{
      const label = document.createElement("label"); label.htmlFor = "s-" + factor; label.textContent = factor;
      const select = document.createElement("select"); select.id = "s-" + factor; select.dataset.factor = factor;
      for (const level of levels) {{ const o = document.createElement("option"); o.value = o.textContent = level;
        select.append(o); }}
      strata.append(label, " ", select, document.createElement("br"));
    }}
  }} catch (e) {{ show("study-status", e.message, false); }}
}}
async function screenSubject() {{
  const data = {{}};
  for (const input of $("criteria").querySelectorAll("input")) {{
    if (input.type === "checkbox") data[input.dataset.field] = input.checked;
    else if (input.value !== "") data[input.dataset.field] = Number(input.value);
  }}
  try {{
    const r = await api("POST", "/api/subjects/screen", {{subject_id: $("subject").value.trim(),
      site: $("site").value.trim(), data}});
    const lines = r.eligible ? ["ELIGIBLE"] : ["NOT ELIGIBLE"].concat(r.failures.map(f => f.rule + ": " + f.reason));
    show("screen-result", lines.join("\\n"), r.eligible);
  }} catch (e) {{ show("screen-result", e.message, false); }}
}}
async function randomiseSubject() {{
  const strata = {{}};
  for (const select of $("strata").querySelectorAll("select")) strata[select.dataset.factor] = select.value;
  try {{
    const subject = encodeURIComponent($("subject").value.trim());
    const r = await api("POST", "/api/subjects/" + subject + "/randomise", {{strata}});
    $("c-subject").textContent = r.subject_id; $("c-time").textContent = r.randomised_at;
    $("c-by").textContent = r.randomised_by; $("c-randno").textContent = r.randomisation_number;
    $("c-kit").textContent = r.kit_number; $("c-stratum").textContent = r.stratum;
    $("confirmation").hidden = false; show("randomise-status", "done", true);
  }} catch (e) {{ show("randomise-status", e.message, false); }}
}}
$("load").addEventListener("click", loadStudy);
$("screen").addEventListener("click", screenSubject);
$("randomise").addEventListener("click", randomiseSubject);
</script>
</body></html>
"""

PHARMACY_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Randomisation: pharmacy</title>
<style>{_STYLE}</style></head>
<body>
<h1>Randomisation: unblinded pharmacy</h1>
{_LOGIN}</p>
<p><label for="subject">Subject (USUBJID)</label> <input id="subject"> <button id="lookup">Look up</button></p>
<pre id="result"></pre>
<script>
{_COMMON_JS}
$("lookup").addEventListener("click", async () => {{
  try {{
    const r = await api("GET", "/api/pharmacy/subjects/" + encodeURIComponent($("subject").value.trim()));
    show("result", ["Subject " + r.subject_id + " (site " + r.site + ")", "Randomisation number " +
      r.randomisation_number, "Kit number " + r.kit_number, "Prepare: " + r.arm].join("\\n"), true);
  }} catch (e) {{ show("result", e.message, false); }}
}});
</script>
</body></html>
"""
