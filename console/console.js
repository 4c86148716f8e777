// Palisade analyst console: a small page over the analyst API (/v1/...), nothing else.
// No framework: a hash router, DOM built with textContent (never innerHTML, so no value from
// the API is ever read as markup), uPlot for the time-series charts. The token lives in
// sessionStorage and goes out only as a bearer header to this origin.
"use strict";
(() => {
  const TOKEN_KEY = "palisade.token";
  const $ = (id) => document.getElementById(id);
  let me;
  let refresh;
  const charts = [];

  // ---- helpers -------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) el.append(child instanceof Node ? child : String(child));
    return el;
  }
  const say = (text, ok) => {
    $("message").textContent = text || "";
    $("message").className = ok ? "ok" : "";
  };
  const canWrite = () => me && (me.role === "analyst" || me.role === "admin");
  const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en-GB") : String(n ?? ""));
  const time = (iso) => (iso ? String(iso).slice(0, 19).replace("T", " ") : "");

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const type = response.headers.get("content-type") || "";
    const payload = type.includes("json") ? await response.json() : await response.text();
    if (response.status === 401) {
      signOut("Your token was not accepted; sign in again.");
      throw new ApiError(401, "not signed in");
    }
    if (!response.ok) throw new ApiError(response.status, (payload && payload.detail) || `HTTP ${response.status}`);
    return payload;
  }

  /** Runs an action, showing its refusal (a problem's detail) instead of failing silently. */
  async function attempt(run, done) {
    try {
      await run();
      if (done) say(done, true);
    } catch (error) {
      if (error.status !== 401) say(error.message || String(error));
    }
  }

  function table(columns, rows, rowAttrs) {
    return h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.title)))),
      h("tbody", {}, rows.length === 0 ? h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "nothing to show")) : rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map((c) => h("td", {}, c.value(row)))))),
    );
  }

  function figure(id, label, value) {
    return h("div", { class: "fig" }, h("div", { class: "v", id }, value), h("div", { class: "l" }, label));
  }

  function plot(target, title, xs, series) {
    if (!window.uPlot) return;
    const width = Math.max(320, Math.min(1060, target.clientWidth || 900));
    const palette = ["#4a6fa5", "#c23b3b", "#d9822b", "#5b9a68", "#a05195", "#7a7a7a"];
    const options = {
      title,
      width,
      height: 220,
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: palette[i % palette.length], width: 2, points: { show: false } }))],
      axes: [{}, { size: 50 }],
      scales: { x: { time: true } },
    };
    charts.push(new window.uPlot(options, [xs, ...series.map((s) => s.values)], target));
  }

  // ---- sign in ---------------------------------------------------------------------------------
  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      me = await api("GET", "/v1/whoami");
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      if (error.status === 403) say("This token may not read the analyst API (a reporter token?).");
      else if (error.status !== 401) say(error.message);
      return false;
    }
    $("who").textContent = `${me.name} (${me.role})`;
    $("nav").hidden = false;
    $("signout").hidden = false;
    $("signin-page").hidden = true;
    $("page").hidden = false;
    say("");
    if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = "#/overview";
    else route();
    return true;
  }

  function signOut(text) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = undefined;
    stopRefresh();
    $("who").textContent = "";
    $("nav").hidden = true;
    $("signout").hidden = true;
    $("page").hidden = true;
    $("page").replaceChildren();
    $("signin-page").hidden = false;
    say(text || "");
  }

  function stopRefresh() {
    if (refresh) clearInterval(refresh);
    refresh = undefined;
    while (charts.length) charts.pop().destroy();
  }

  // ---- pages -----------------------------------------------------------------------------------
  const pages = { overview, decisions, quarantines, audit, policy, report };

  function route() {
    if (!me) return;
    stopRefresh();
    const [name, ...rest] = location.hash.replace(/^#\//, "").split("/");
    const page = pages[name] ? name : "overview";
    for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.getAttribute("href") === `#/${page}`);
    const root = $("page");
    root.replaceChildren();
    say("");
    void attempt(() => pages[page](root, rest.map(decodeURIComponent)));
  }

  async function overview(root) {
    const period = h("select", { id: "overview-period" }, h("option", { value: "1h" }, "last hour"), h("option", { value: "6h" }, "last 6 hours"), h("option", { value: "24h" }, "last 24 hours"));
    const body = h("div", { id: "overview-body" });
    root.append(h("h1", {}, "Overview"), h("form", { class: "inline" }, h("label", { for: "overview-period" }, "Period"), period), body);
    const draw = async () => {
      const [stats, policyStatus, ready, quarantineList, anomalies] = await Promise.all([
        api("GET", `/v1/stats?since=${period.value}&resolution=minute`),
        api("GET", "/v1/policy"),
        fetch("/readyz").then((r) => r.json()).catch(() => ({ ready: false, checks: {} })),
        api("GET", "/v1/quarantines?limit=1"),
        api("GET", "/v1/anomalies"),
      ]);
      while (charts.length) charts.pop().destroy();
      const buckets = stats.buckets;
      const sum = (f) => buckets.reduce((t, b) => t + (b.counts[f] || 0), 0);
      const total = sum("n");
      const mitigated = total - sum("a:allow");
      const prefixed = (prefix) => {
        const totals = new Map();
        for (const b of buckets) for (const [f, n] of Object.entries(b.counts)) if (f.startsWith(prefix)) totals.set(f.slice(prefix.length), (totals.get(f.slice(prefix.length)) || 0) + n);
        return [...totals.entries()].sort((a, b) => b[1] - a[1]);
      };
      const rules = new Map();
      for (const [key, n] of prefixed("r:")) {
        const rule = key.slice(0, key.lastIndexOf(":"));
        rules.set(rule, (rules.get(rule) || 0) + n);
      }
      // Every minute of the period, empty ones as zero, so the axis is the period asked for.
      const byStart = new Map(buckets.map((b) => [b.startMs, b.counts]));
      const minutes = [];
      for (let at = Math.floor(Date.parse(stats.from) / 60000) * 60000; at <= Date.parse(stats.to); at += 60000) minutes.push({ startMs: at, counts: byStart.get(at) || {} });
      const xs = minutes.map((b) => b.startMs / 1000);
      const actions = ["step_up", "challenge", "throttle", "quarantine", "block"].filter((a) => sum(`a:${a}`) > 0);
      // /readyz names each check's state ("ok", "unreachable", "rejected"…) without detail.
      const check = (name) => (ready.checks || {})[name];
      const storeState = check("store") || "unknown";
      const reload = check("policyReload");
      body.replaceChildren(
        h(
          "div",
          { class: "figs" },
          figure("fig-requests", "requests", fmt(total)),
          figure("fig-mitigated", "mitigated", `${fmt(mitigated)}${total ? ` (${((mitigated / total) * 100).toFixed(1)}%)` : ""}`),
          figure("fig-quarantines", "active quarantines", fmt(quarantineList.total)),
          figure("fig-friction", "friction passed", fmt(sum("l:challenge") + sum("l:mfa"))),
          figure("fig-policy", reload && reload !== "ok" ? `policy in force (last reload ${reload})` : "policy in force", policyStatus.effective.version),
          figure("fig-store", "shared store", storeState === "ok" ? (sum("d") ? `ok (${fmt(sum("d"))} decisions degraded)` : "ok") : storeState),
          figure("fig-anomalies", "anomalies in force", fmt(anomalies.anomalies.length)),
        ),
        h("div", { id: "chart-traffic", class: "chart" }),
        h("div", { id: "chart-actions", class: "chart" }),
        h("div", { id: "chart-families", class: "chart" }),
        h("h2", {}, "Attack families"),
        table([{ title: "family", value: (r) => r[0] }, { title: "mitigated requests", value: (r) => fmt(r[1]) }], prefixed("f:")),
        h("h2", {}, "Top rules"),
        table([{ title: "rule", value: (r) => r[0] }, { title: "requests acted on", value: (r) => fmt(r[1]) }], [...rules.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10)),
        h("h2", {}, "Rules on trial (shadow) — would have acted"),
        table([{ title: "rule", value: (r) => r[0] }, { title: "times", value: (r) => fmt(r[1]) }], prefixed("s:")),
      );
      plot($("chart-traffic"), "Requests per minute", xs, [
        { label: "allowed", values: minutes.map((b) => b.counts["a:allow"] || 0) },
        { label: "mitigated", values: minutes.map((b) => (b.counts.n || 0) - (b.counts["a:allow"] || 0)) },
      ]);
      plot($("chart-actions"), "Mitigations per minute, by action", xs, actions.map((a) => ({ label: a, values: minutes.map((b) => b.counts[`a:${a}`] || 0) })));
      const families = prefixed("f:").slice(0, 6).map(([f]) => f);
      plot($("chart-families"), "Mitigations per minute, by attack family", xs, families.map((f) => ({ label: f, values: minutes.map((b) => b.counts[`f:${f}`] || 0) })));
    };
    period.addEventListener("change", () => void attempt(draw));
    await draw();
    refresh = setInterval(() => void attempt(draw), 5000);
  }

  function reasonsTable(reasons) {
    return table(
      [
        { title: "signal", value: (r) => r.code },
        { title: "measured", value: (r) => fmt(r.value) },
        { title: "threshold", value: (r) => (r.threshold === undefined ? "" : fmt(r.threshold)) },
        { title: "risk points", value: (r) => fmt(r.weight) },
        { title: "detail", value: (r) => r.detail || "" },
      ],
      reasons || [],
    );
  }

  function decisionView(d) {
    const r = d.record;
    const fromRecord = d.source === "record";
    return h(
      "div",
      { id: "decision-result" },
      h("h2", {}, `Decision ${d.decisionId}`),
      fromRecord
        ? h("p", { class: "muted" }, r.overflow
            ? "From the shared decision records. That minute held too many distinct clients, so this record counts the rule's decisions without their subject; the reasons are the first such decision's."
            : "From the shared decision records (the decision was taken by another replica, or is no longer among this replica's recent ones). The reasons are those of the first decision of its kind that minute.")
        : null,
      table(
        [{ title: "", value: (x) => x[0] }, { title: "", value: (x) => x[1] }],
        [
          ["time", time(d.time)],
          ["action", d.action],
          ["risk", d.risk],
          ["rule", d.rule || "none"],
          ["scope", d.scope || ""],
          ["subject (pseudonym)", d.subject || ""],
          ["endpoint", d.endpoint || ""],
          ["policy version", d.policyVersion],
          ["shadow rules that matched", (d.shadowed || []).map((s) => `${s.rule} (${s.action})`).join(", ") || "none"],
          ...(r ? [["like decisions that minute", `${fmt(r.count)} (${time(r.first)} to ${time(r.last)})`]] : []),
        ],
      ),
      h("h2", {}, "Why"),
      reasonsTable(d.reasons),
    );
  }

  async function decisions(root, [id]) {
    const input = h("input", { id: "decision-id", placeholder: "decision id from a denial", size: 40, value: id || "" });
    const result = h("div", {});
    const find = async () => {
      const wanted = input.value.trim();
      if (!wanted) return;
      try {
        // Any replica finds a recorded decision: the id names its shared record.
        result.replaceChildren(decisionView(await api("GET", `/v1/decisions/${encodeURIComponent(wanted)}`)));
      } catch (error) {
        result.replaceChildren(h("p", { id: "decision-result", class: "muted" }, error.status === 404 ? "No decision record carries this id: allowed requests leave none, and records expire with the policy's retention." : error.message));
      }
    };
    const [recent, shared] = await Promise.all([api("GET", "/v1/decisions?limit=50"), api("GET", "/v1/decision-records?limit=50")]);
    const idLink = (decisionId) => h("a", { href: `#/decisions/${encodeURIComponent(decisionId)}`, class: "mono" }, `…${decisionId.slice(-8)}`);
    root.append(
      h("h1", {}, "Decisions"),
      h("form", { class: "inline", onsubmit: (e) => (e.preventDefault(), void find()) }, h("label", { for: "decision-id" }, "Look up a decision"), input, h("button", { id: "decision-find", type: "submit" }, "Find")),
      result,
      h("h2", {}, `Recent flagged decisions on this replica (${fmt(recent.total)})`),
      table(
        [
          { title: "time", value: (d) => time(d.time) },
          { title: "action", value: (d) => d.action },
          { title: "rule", value: (d) => d.rule || "" },
          { title: "endpoint", value: (d) => d.endpoint || "" },
          { title: "risk", value: (d) => d.risk },
          { title: "signals", value: (d) => d.reasons.map((r) => r.code).join(", ") },
          { title: "id", value: (d) => idLink(d.decisionId) },
        ],
        recent.decisions,
      ),
      h("h2", {}, "Decision records of every replica, last hour (one per rule, subject and minute)"),
      table(
        [
          { title: "minute", value: (r) => time(r.minute) },
          { title: "action", value: (r) => r.action },
          { title: "rule", value: (r) => r.rule || "" },
          { title: "endpoint", value: (r) => r.endpoint || "" },
          { title: "subject (pseudonym)", value: (r) => (r.overflow ? "(many: minute full)" : r.subject || "") },
          { title: "decisions", value: (r) => fmt(r.count) },
          { title: "first id", value: (r) => idLink(r.firstDecisionId) },
        ],
        shared.records,
      ),
    );
    if (id) await find();
  }

  const LOOKUPS = ["ip", "username", "subnet", "session", "subject"];

  async function quarantines(root) {
    const kind = h("select", { id: "q-filter-kind" }, LOOKUPS.map((k) => h("option", { value: k }, k)));
    const value = h("input", { id: "q-filter-value", placeholder: "typed value is pseudonymised first", size: 30 });
    const rule = h("input", { id: "q-filter-rule", placeholder: "rule", size: 16 });
    const list = h("div", { id: "quarantine-list" });
    const load = async () => {
      const query = new URLSearchParams({ limit: "200" });
      if (value.value.trim()) query.set(kind.value, value.value.trim());
      if (rule.value.trim()) query.set("rule", rule.value.trim());
      const answer = await api("GET", `/v1/quarantines?${query}`);
      list.replaceChildren(
        h("p", { class: "muted" }, `${fmt(answer.total)} active`),
        table(
          [
            { title: "scope", value: (q) => q.scope },
            { title: "subject (pseudonym)", value: (q) => h("span", { class: "mono" }, q.subject) },
            { title: "rule", value: (q) => q.rule || "(by hand)" },
            { title: "by", value: (q) => q.actor },
            { title: "since", value: (q) => time(q.start) },
            { title: "expires", value: (q) => time(q.expires) },
            { title: "offence", value: (q) => q.offence },
            { title: "reason", value: (q) => q.reason || (q.reasons || []).map((r) => r.code).join(", ") },
            {
              title: "",
              value: (q) => {
                if (!canWrite()) return "";
                const why = h("input", { class: "lift-reason", placeholder: "reason for lifting", size: 18 });
                return h("form", { class: "inline", onsubmit: (e) => (e.preventDefault(), void attempt(async () => {
                  await api("POST", `/v1/quarantines/${encodeURIComponent(q.id)}/lift`, { reason: why.value.trim() || undefined });
                  await load();
                }, "Quarantine lifted.")) }, why, h("button", { class: "lift", type: "submit" }, "Lift"));
              },
            },
          ],
          answer.quarantines,
          (q) => ({ "data-id": q.id }),
        ),
      );
    };
    root.append(
      h("h1", {}, "Quarantines"),
      h("form", { class: "inline", onsubmit: (e) => (e.preventDefault(), void attempt(load)) }, h("label", {}, "Filter"), kind, value, rule, h("button", { type: "submit", id: "q-filter" }, "Filter")),
      list,
    );
    if (canWrite()) {
      const addKind = h("select", { id: "add-kind" }, ["ip", "username", "subnet", "session", "fingerprint"].map((k) => h("option", { value: k }, k)));
      const addValue = h("input", { id: "add-value", required: true, size: 24 });
      const duration = h("input", { id: "add-duration", placeholder: "4h (policy default when empty)", size: 14 });
      const reason = h("input", { id: "add-reason", placeholder: "ticket or reason", size: 24 });
      root.append(
        h("h2", {}, "Quarantine a client by hand"),
        h(
          "form",
          {
            class: "inline",
            id: "add-form",
            onsubmit: (e) => {
              e.preventDefault();
              void attempt(async () => {
                await api("POST", "/v1/quarantines", { [addKind.value]: addValue.value.trim(), duration: duration.value.trim() || undefined, reason: reason.value.trim() || undefined });
                addValue.value = "";
                await load();
              }, "Quarantine added.");
            },
          },
          addKind,
          addValue,
          duration,
          reason,
          h("button", { id: "add-submit", type: "submit" }, "Quarantine"),
        ),
      );
    }
    await load();
  }

  async function audit(root) {
    const action = h("select", { id: "audit-action" }, ["", "quarantine.created", "quarantine.lifted", "enforcement.block", "shadow.would_have", "policy.loaded", "policy.rolled_back", "policy.override_cleared", "rule.disabled", "rule.enabled", "threshold.overridden", "threshold.cleared"].map((a) => h("option", { value: a }, a || "every action")));
    const kind = h("select", { id: "audit-kind" }, LOOKUPS.map((k) => h("option", { value: k }, k)));
    const value = h("input", { id: "audit-value", placeholder: "typed value is pseudonymised first", size: 26 });
    const rows = [];
    const holder = h("div", { id: "audit-table" });
    let next;
    const more = h("button", { id: "audit-more", type: "button", hidden: true }, "More");
    const render = () =>
      holder.replaceChildren(
        table(
          [
            { title: "time", value: (r) => time(r.time) },
            { title: "action", value: (r) => r.action },
            { title: "actor", value: (r) => r.actor },
            { title: "rule", value: (r) => r.rule || "" },
            { title: "scope", value: (r) => r.scope || "" },
            { title: "subject (pseudonym)", value: (r) => h("span", { class: "mono" }, r.subject || "") },
            { title: "policy", value: (r) => r.policyVersion || "" },
            { title: "why / detail", value: (r) => [(r.rationale || []).map((x) => `${x.code}=${x.value}${x.threshold !== undefined ? `/${x.threshold}` : ""}`).join(", "), r.detail && r.detail.reason ? `reason: ${r.detail.reason}` : ""].filter(Boolean).join(" · ") },
          ],
          rows,
        ),
      );
    const load = async (reset) => {
      if (reset) {
        rows.length = 0;
        next = undefined;
      }
      const query = new URLSearchParams({ limit: "100" });
      if (action.value) query.set("action", action.value);
      if (value.value.trim()) query.set(kind.value, value.value.trim());
      if (next) query.set("cursor", next);
      const page = await api("GET", `/v1/audit?${query}`);
      rows.push(...page.records);
      next = page.next;
      more.hidden = !next;
      render();
    };
    more.addEventListener("click", () => void attempt(() => load(false)));
    root.append(
      h("h1", {}, "Audit trail"),
      h("form", { class: "inline", onsubmit: (e) => (e.preventDefault(), void attempt(() => load(true))) }, action, kind, value, h("button", { type: "submit", id: "audit-filter" }, "Show")),
      holder,
      more,
    );
    await load(true);
  }

  async function policy(root) {
    const [status, versions, stats, effective] = await Promise.all([
      api("GET", "/v1/policy"),
      api("GET", "/v1/policy/versions"),
      api("GET", "/v1/stats?since=24h&resolution=hour"),
      // The base document: the policy in force before rules were switched off (they leave the effective one).
      api("GET", "/v1/policy/versions/base"),
    ]);
    const diff = h("div", { id: "policy-diff" });
    const shadow = new Map();
    for (const b of stats.buckets) for (const [f, n] of Object.entries(b.counts)) if (f.startsWith("s:")) shadow.set(f.slice(2), (shadow.get(f.slice(2)) || 0) + n);
    const reason = h("input", { id: "rollback-reason", placeholder: "reason", size: 24 });
    const expires = h("input", { id: "rollback-expires", placeholder: "expires, e.g. 2h (optional)", size: 20 });
    const rows = versions.versions.map((v) => ({ ...v, inForce: v.version === status.base.version }));
    root.append(
      h("h1", {}, "Policy"),
      table(
        [{ title: "", value: (r) => r[0] }, { title: "", value: (r) => r[1] }],
        [
          ["in force", `${status.effective.name} ${status.effective.version}`],
          ["from the file", `${status.file.name} ${status.file.version}`],
          ["rollback", status.rollback ? `to ${status.rollback.version ?? status.rollback.ref ?? ""} by ${status.rollback.actor ?? ""}${status.rollback.until ? ` until ${time(status.rollback.until)}` : ""}` : "none"],
          ["rules switched off", status.disabledRules.map((c) => c.rule).join(", ") || "none"],
          ["threshold overrides", status.thresholds.map((c) => `${c.path} = ${c.value}${c.until ? ` until ${time(c.until)}` : ""}`).join("; ") || "none"],
        ],
      ),
      status.rollback && canWrite()
        ? h("button", { id: "rollback-clear", type: "button", onclick: () => void attempt(async () => {
            await api("DELETE", "/v1/policy/rollback", { reason: reason.value.trim() || undefined });
            route();
          }, "Rollback ended.") }, "End the rollback")
        : "",
      h("h2", {}, "Kept versions"),
      canWrite() ? h("form", { class: "inline" }, h("span", { class: "muted" }, "For a rollback or a change below:"), reason, expires) : "",
      table(
        [
          { title: "version", value: (v) => v.version + (v.inForce ? " (in force)" : "") },
          { title: "ref", value: (v) => h("span", { class: "mono" }, v.ref) },
          { title: "loaded", value: (v) => time(v.loadedAt) },
          { title: "source", value: (v) => v.source },
          {
            title: "",
            value: (v) =>
              h(
                "span",
                {},
                h("button", { type: "button", class: "diff", onclick: () => void attempt(async () => {
                  const answer = await api("GET", `/v1/policy/diff?from=${encodeURIComponent(v.id)}&to=effective`);
                  diff.replaceChildren(h("h2", {}, `From ${answer.from.version} to the policy in force`), h("pre", {}, JSON.stringify(answer.changes, null, 2)));
                }) }, "Diff"),
                " ",
                canWrite() && !v.inForce
                  ? h("button", { type: "button", class: "rollback", onclick: () => void attempt(async () => {
                      await api("POST", "/v1/policy/rollback", { id: v.id, reason: reason.value.trim() || undefined, expires: expires.value.trim() || undefined });
                      route();
                    }, `Rolled back to ${v.version}.`) }, "Roll back to this")
                  : "",
              ),
          },
        ],
        rows,
        (v) => ({ "data-ref": v.ref }),
      ),
      diff,
      h("h2", {}, "Rules"),
      rulesTable(effective.document, status, shadow, reason, expires),
      h("h2", {}, "Threshold overrides"),
      overridesPanel(status, reason, expires),
    );
  }

  /** The policy's rules: action, scope, shadow counts, and switching one off or on again. */
  function rulesTable(document, status, shadow, reason, expires) {
    const disabled = new Map(status.disabledRules.map((c) => [c.rule, c]));
    const rules = ((document && document.spec && document.spec.rules) || []).map((r) => ({ ...r, off: disabled.get(r.id) }));
    const change = (rule, how) =>
      attempt(async () => {
        const body = how === "disable" ? { reason: reason.value.trim() || undefined, expires: expires.value.trim() || undefined } : { reason: reason.value.trim() || undefined };
        await api("POST", `/v1/rules/${encodeURIComponent(rule)}/${how}`, body);
        route();
      }, how === "disable" ? `Rule ${rule} switched off.` : `Rule ${rule} switched on.`);
    return table(
      [
        { title: "rule", value: (r) => r.id },
        { title: "action", value: (r) => `${r.action}${r.shadow ? " (shadow)" : ""}` },
        { title: "scope", value: (r) => r.scope || "" },
        { title: "would have acted (24 h)", value: (r) => (r.shadow ? fmt(shadow.get(r.id) || 0) : "") },
        { title: "state", value: (r) => (r.off ? `off until ${time(r.off.until)}` : "on") },
        {
          title: "",
          value: (r) =>
            canWrite()
              ? h("button", { type: "button", class: r.off ? "rule-enable" : "rule-disable", onclick: () => void change(r.id, r.off ? "enable" : "disable") }, r.off ? "Switch on" : "Switch off")
              : "",
        },
      ],
      rules,
      (r) => ({ "data-rule": r.id }),
    );
  }

  /** Numbers of the policy overridden at run time, with expiry; add or clear one. */
  function overridesPanel(status, reason, expires) {
    const list = table(
      [
        { title: "path", value: (c) => h("span", { class: "mono" }, c.path) },
        { title: "value", value: (c) => fmt(c.value) },
        { title: "by", value: (c) => c.actor || "" },
        { title: "until", value: (c) => time(c.until) },
        {
          title: "",
          value: (c) =>
            canWrite()
              ? h("button", { type: "button", class: "override-clear", onclick: () => void attempt(async () => {
                  await api("DELETE", `/v1/overrides?path=${encodeURIComponent(c.path)}`, { reason: reason.value.trim() || undefined });
                  route();
                }, "Override cleared.") }, "Clear")
              : "",
        },
      ],
      status.thresholds,
    );
    if (!canWrite()) return list;
    const path = h("input", { id: "override-path", placeholder: "endpoints/login/velocity/ip/threshold", size: 36 });
    const value = h("input", { id: "override-value", type: "number", step: "any", size: 8 });
    return h(
      "div",
      {},
      list,
      h(
        "form",
        {
          class: "inline",
          id: "override-form",
          onsubmit: (e) => {
            e.preventDefault();
            void attempt(async () => {
              await api("POST", "/v1/overrides", { path: path.value.trim(), value: Number(value.value), reason: reason.value.trim() || undefined, expires: expires.value.trim() || undefined });
              route();
            }, "Override in force.");
          },
        },
        path,
        value,
        h("button", { type: "submit", id: "override-submit" }, "Override"),
        h("span", { class: "muted" }, "reason and expiry from the fields above"),
      ),
    );
  }

  async function report(root) {
    const since = h("select", { id: "report-since" }, ["24h", "7d", "30d", "1h"].map((s) => h("option", { value: s }, s)));
    const frame = h("iframe", { class: "report", id: "report-frame", sandbox: "", title: "posture report" });
    const download = h("a", { id: "report-download", hidden: true }, "Download HTML");
    const show = async () => {
      const html = await api("GET", `/v1/report?since=${since.value}&format=html`);
      frame.srcdoc = html;
      download.href = URL.createObjectURL(new Blob([html], { type: "text/html" }));
      download.download = `palisade-report-${since.value}.html`;
      download.hidden = false;
    };
    root.append(
      h("h1", {}, "Posture report"),
      h("p", { class: "muted" }, "The same report as `palisade report`; print it from the command line for a PDF."),
      h("form", { class: "inline", onsubmit: (e) => (e.preventDefault(), void attempt(show)) }, h("label", { for: "report-since" }, "Period"), since, h("button", { id: "report-show", type: "submit" }, "Show"), download),
      frame,
    );
    await show();
  }

  // ---- start -----------------------------------------------------------------------------------
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    void signIn(token);
  });
  $("signout").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", route);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) void signIn(saved);
})();
