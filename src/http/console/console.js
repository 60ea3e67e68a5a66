// floodgate's moderation console: calls the admin API of the listener that served it.
//
// Safety rules of this file: every string that came from the API (user IDs, texts spammers
// wrote, details) reaches the page through textContent or createTextNode only; no markup is
// ever built from a string. The admin token lives in sessionStorage (this tab only), never in
// persistent storage or a cookie. The page's Content-Security-Policy forbids inline code anyway.
"use strict";

(function () {
  const TOKEN_KEY = "floodgate-admin-token";
  const REFRESH_MS = 5000;
  const LIST_LIMIT = 50;
  const MAX_LIMIT = 1000;
  // How many entries each list shows: "Show more" raises it, the refresh keeps it.
  const shown = { rejections: LIST_LIMIT, campaigns: LIST_LIMIT, blocks: LIST_LIMIT, audit: LIST_LIMIT };

  const $ = (id) => document.getElementById(id);
  let refreshing = false;
  let timer = null;

  // ---- the token, for this tab only ----
  const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
  // Called once per refused request: the lists load in parallel, so several 401s arrive
  // together, and only the first clears the field (the moderator may be typing already).
  function forgetToken(message) {
    const wasSignedIn = storedToken() !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    stopRefreshing();
    $("console").hidden = true;
    $("session").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("status").textContent = "Not signed in.";
    if (wasSignedIn) {
      $("token").value = "";
      $("token").focus();
    }
  }

  // ---- the admin API ----
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = storedToken();
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    let json = null;
    try {
      json = await response.json();
    } catch (_) {
      json = null;
    }
    if (response.status === 401) {
      // Only the token this request carried is forgotten, not one entered since.
      if (storedToken() === token) {
        forgetToken("The admin token was refused. Enter FLOODGATE_ADMIN_TOKEN again.");
      }
      throw new ApiError(401, "the admin token was refused");
    }
    if (!response.ok) {
      const said = json && typeof json.error === "string" ? json.error : "";
      throw new ApiError(response.status, "HTTP " + response.status + (said ? ": " + said : ""));
    }
    return json;
  }

  // A list reply is an array, or an object holding one (with a `next` cursor beside it).
  function items(reply) {
    if (Array.isArray(reply)) return reply;
    if (reply && typeof reply === "object") {
      for (const name of ["items", "rejections", "campaigns", "blocks", "audit", "senders", "entries"]) {
        if (Array.isArray(reply[name])) return reply[name];
      }
    }
    return [];
  }

  // ---- rendering: elements built by hand, data inserted as text ----
  function text(value) {
    if (value === undefined || value === null) return "";
    if (typeof value === "string") return value;
    return String(value);
  }

  function when(value) {
    if (value === undefined || value === null || value === "") return "";
    let date;
    if (typeof value === "number") {
      date = new Date(value < 1e12 ? value * 1000 : value);
    } else {
      date = new Date(value);
    }
    if (isNaN(date.getTime())) return text(value);
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function cell(value, className) {
    const td = document.createElement("td");
    td.textContent = text(value);
    if (className) td.className = className;
    return td;
  }

  function button(label, onClick, title) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (title) b.setAttribute("aria-label", title);
    b.addEventListener("click", onClick);
    return b;
  }

  function actionsCell(buttons) {
    const td = document.createElement("td");
    td.className = "act";
    for (const b of buttons) td.appendChild(b);
    return td;
  }

  function fill(tableId, rows, columns, render) {
    const body = $(tableId).tBodies[0];
    const fresh = document.createElement("tbody");
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell("Nothing right now.", "empty");
      td.colSpan = columns;
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    for (const row of rows) fresh.appendChild(render(row));
    body.replaceWith(fresh);
  }

  function failed(tableId, columns, error) {
    const body = $(tableId).tBodies[0];
    const fresh = document.createElement("tbody");
    const tr = document.createElement("tr");
    const td = cell("Could not load: " + error.message, "error");
    td.colSpan = columns;
    tr.appendChild(td);
    fresh.appendChild(tr);
    body.replaceWith(fresh);
  }

  function keyOf(entry) {
    if (typeof entry === "string") return entry;
    return entry && typeof entry.key === "string" ? entry.key : "";
  }

  function renderRejection(r) {
    const tr = document.createElement("tr");
    tr.dataset.sendId = text(r.sendID);
    tr.appendChild(cell(when(r.at)));
    tr.appendChild(cell(r.rule));
    tr.appendChild(cell(r.errCode));
    tr.appendChild(cell(r.sendID, "id"));
    tr.appendChild(cell(r.groupID ? "group " + text(r.groupID) : r.recvID, "id"));
    tr.appendChild(cell(r.text, "text"));
    tr.appendChild(cell(r.detail, "detail"));
    const keys = Array.isArray(r.keys) ? r.keys.map(keyOf).filter((k) => k) : [];
    tr.appendChild(
      actionsCell([
        button("Block…", () => prefillBlock(text(r.sendID)), "Block " + text(r.sendID)),
        button("Report…", () => prefillReport(text(r.text), r.text ? "" : keys[0] || ""), "Report this text"),
      ])
    );
    return tr;
  }

  function renderCampaign(c) {
    const tr = document.createElement("tr");
    const key = text(c.key);
    tr.dataset.key = key;
    tr.dataset.state = text(c.state);
    tr.appendChild(cell(c.kind));
    tr.appendChild(cell(c.display, "text"));
    tr.appendChild(cell(c.senders));
    tr.appendChild(cell(c.rejected));
    tr.appendChild(cell(when(c.firstSeen)));
    tr.appendChild(cell(c.state, "state state-" + text(c.state).replace(/[^a-z-]/g, "")));
    const buttons = [
      button("Senders", () => showSenders(key, text(c.display)), "Senders of " + key),
      button("Report…", () => prefillReport("", key), "Report key " + key),
    ];
    if (c.state === "allowed") {
      buttons.push(button("Remove allowance…", () => prefillAllow(key), "Remove the allowance of " + key));
    } else {
      buttons.push(button("Allow…", () => prefillAllow(key), "Allow key " + key));
    }
    tr.appendChild(actionsCell(buttons));
    return tr;
  }

  function renderBlock(b) {
    const tr = document.createElement("tr");
    const user = text(b.sendID);
    tr.dataset.sendId = user;
    tr.appendChild(cell(user, "id"));
    tr.appendChild(cell(b.rule));
    tr.appendChild(cell(when(b.since)));
    tr.appendChild(cell(when(b.until)));
    tr.appendChild(cell(b.blocks));
    tr.appendChild(cell(b.by, "text"));
    tr.appendChild(actionsCell([button("Lift…", () => prefillLift(user), "Lift the block of " + user)]));
    return tr;
  }

  function renderAudit(a) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(when(a.at)));
    tr.appendChild(cell(a.action));
    tr.appendChild(cell(a.target, "id"));
    tr.appendChild(cell(a.reason, "text"));
    tr.appendChild(cell(a.caller));
    return tr;
  }

  // ---- the lists ----
  function query(params) {
    const parts = [];
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") parts.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
    }
    return parts.length ? "?" + parts.join("&") : "";
  }

  async function load(tableId, path, columns, render) {
    try {
      const reply = await api("GET", path);
      const rows = items(reply);
      fill(tableId, rows, columns, render);
      const more = reply && reply.next !== undefined && reply.next !== null;
      $(tableId + "-more").hidden = !more || shown[tableId] >= MAX_LIMIT;
      return rows.length;
    } catch (error) {
      if (error.status !== 401) failed(tableId, columns, error);
      throw error;
    }
  }

  async function refresh() {
    if (refreshing || storedToken() === null) return;
    refreshing = true;
    try {
      const rejections = "/v1/rejections" + query({
        limit: shown.rejections,
        rule: $("filter-rule").value.trim(),
        sendID: $("filter-sender").value.trim(),
      });
      const results = await Promise.allSettled([
        load("rejections", rejections, 8, renderRejection),
        load("campaigns", "/v1/campaigns" + query({ limit: shown.campaigns }), 7, renderCampaign),
        load("blocks", "/v1/blocks" + query({ limit: shown.blocks }), 7, renderBlock),
        load("audit", "/v1/audit" + query({ limit: shown.audit }), 5, renderAudit),
      ]);
      if (storedToken() === null) return;
      const bad = results.filter((r) => r.status === "rejected");
      const counts = results.map((r) => (r.status === "fulfilled" ? r.value : "?"));
      $("status").textContent =
        "Updated " + when(Date.now()) + ": " + counts[0] + " rejections, " + counts[1] +
        " campaigns, " + counts[2] + " blocks" + (bad.length ? " (" + bad.length + " lists failed)" : "");
      $("status").className = bad.length ? "error" : "";
    } finally {
      refreshing = false;
    }
  }

  function startRefreshing() {
    stopRefreshing();
    if ($("auto-refresh").checked) {
      timer = setInterval(() => {
        if (!document.hidden) refresh();
      }, REFRESH_MS);
    }
  }

  function stopRefreshing() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  async function showSenders(key, display) {
    const box = $("campaign-senders");
    $("campaign-senders-title").textContent = "Senders of " + (display || key);
    const list = $("campaign-senders-list");
    const fresh = document.createElement("ul");
    fresh.id = "campaign-senders-list";
    try {
      const senders = items(await api("GET", "/v1/campaigns/" + encodeURIComponent(key) + "/senders"));
      for (const s of senders) {
        const li = document.createElement("li");
        li.textContent = typeof s === "string" ? s : text(s && s.sendID);
        fresh.appendChild(li);
      }
      if (senders.length === 0) {
        const li = document.createElement("li");
        li.textContent = "No senders recorded.";
        fresh.appendChild(li);
      }
    } catch (error) {
      const li = document.createElement("li");
      li.className = "error";
      li.textContent = "Could not load: " + error.message;
      fresh.appendChild(li);
    }
    list.replaceWith(fresh);
    box.hidden = false;
  }

  // ---- the actions ----
  function said(message, isError) {
    $("action-result").textContent = message;
    $("action-result").className = isError ? "error" : "ok";
  }

  async function act(description, method, path, body) {
    try {
      const reply = await api(method, path, body);
      said(description + ": done.", false);
      refresh();
      return reply;
    } catch (error) {
      said(description + " failed: " + error.message, true);
      return null;
    }
  }

  function prefillBlock(user) {
    $("block-user").value = user;
    $("block-reason").focus();
  }

  function prefillReport(reportText, key) {
    $("report-text").value = reportText;
    $("report-key").value = key;
    $("report-reason").focus();
  }

  function prefillAllow(key) {
    $("allow-text").value = "";
    $("allow-key").value = key;
    $("allow-reason").focus();
  }

  function prefillLift(user) {
    $("lift-user").value = user;
    $("lift-reason").focus();
  }

  function lift(user, reason) {
    const path = "/v1/senders/" + encodeURIComponent(user) + "/block" + query({ reason });
    return act("Lift the block of " + user, "DELETE", path);
  }

  function unallow(key, reason) {
    const path = "/v1/allowances/" + encodeURIComponent(key) + query({ reason });
    return act("Remove the allowance of " + key, "DELETE", path);
  }

  // "Reported 2 keys: link example.com/x, near-duplicate …; blocked 3 senders."
  function taughtSummary(verb, reply) {
    const keys = reply && Array.isArray(reply.keys) ? reply.keys : [];
    const named = keys.map((k) =>
      typeof k === "string" ? k : (text(k.kind) + " " + text(k.display || k.key)).trim()
    );
    let summary = verb + " " + keys.length + (keys.length === 1 ? " key" : " keys");
    if (named.length) summary += ": " + named.join(", ");
    if (reply && typeof reply.blockedSenders === "number") {
      summary += "; blocked " + reply.blockedSenders + (reply.blockedSenders === 1 ? " sender" : " senders");
    }
    return summary + ".";
  }

  // {"text": …} or {"key": …}: the text wins when both are filled.
  function subject(textId, keyId) {
    const t = $(textId).value;
    const k = $(keyId).value.trim();
    if (t.trim() !== "") return { text: t };
    if (k !== "") return { key: k };
    return null;
  }

  function onSubmit(formId, handler) {
    $(formId).addEventListener("submit", (event) => {
      event.preventDefault();
      handler();
    });
  }

  function wireActions() {
    onSubmit("block-form", () => {
      const user = $("block-user").value.trim();
      if (!user) return said("Name the user to block.", true);
      const body = { for: $("block-for").value.trim(), reason: $("block-reason").value };
      act("Block " + user, "PUT", "/v1/senders/" + encodeURIComponent(user) + "/block", body);
    });
    onSubmit("lift-form", () => {
      const user = $("lift-user").value.trim();
      if (!user) return said("Name the user whose block to lift.", true);
      lift(user, $("lift-reason").value);
    });
    onSubmit("report-form", async () => {
      const body = subject("report-text", "report-key");
      if (!body) return said("Paste the spam text or a campaign key to report.", true);
      if ($("report-block").checked) body.blockSenders = true;
      const reason = $("report-reason").value;
      if (reason) body.reason = reason;
      const reply = await act("Report", "POST", "/v1/reports", body);
      if (reply) said(taughtSummary("Reported", reply), false);
    });
    onSubmit("allow-form", async () => {
      const body = subject("allow-text", "allow-key");
      if (!body) return said("Paste the text or a campaign key to allow.", true);
      const reason = $("allow-reason").value;
      if (reason) body.reason = reason;
      const reply = await act("Allow", "POST", "/v1/allowances", body);
      if (reply) said(taughtSummary("Allowed", reply), false);
    });
    $("unallow-submit").addEventListener("click", () => {
      const key = $("allow-key").value.trim();
      if (!key) return said("Name the key whose allowance to remove.", true);
      unallow(key, $("allow-reason").value);
    });
    onSubmit("rejections-filter", () => refresh());
    for (const list of Object.keys(shown)) {
      $(list + "-more").addEventListener("click", () => {
        shown[list] = Math.min(shown[list] + LIST_LIMIT, MAX_LIMIT);
        refresh();
      });
    }
    $("refresh").addEventListener("click", () => refresh());
    $("auto-refresh").addEventListener("change", startRefreshing);
    $("logout").addEventListener("click", () => forgetToken("Token forgotten."));
  }

  function open() {
    $("login").hidden = true;
    $("console").hidden = false;
    $("session").hidden = false;
    $("status").textContent = "Loading…";
    refresh();
    startRefreshing();
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireActions();
    onSubmit("login-form", () => {
      // An empty token is kept too: an admin listener without FLOODGATE_ADMIN_TOKEN (on
      // loopback only, say) asks for none.
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      $("login-error").textContent = "";
      open();
    });
    if (storedToken() === null) {
      forgetToken("");
      $("token").focus();
    } else {
      open();
    }
  });
})();
