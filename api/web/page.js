"use strict";
const csrf = document.querySelector('meta[name="csrf"]').content;
const groupsEl = document.getElementById("groups");
const msg = document.getElementById("msg");
const live = document.getElementById("live");

function say(text, bad) { msg.textContent = text; msg.className = bad ? "bad" : ""; }

async function act(action, name) {
  say((name ? name + ": " : "") + action + "…");
  try {
    const r = await fetch("ui/action", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ Action: action, Name: name || "" }) });
    if (!r.ok) { say(await r.text(), true); return; }
    const res = await r.json();
    say(res.message, !res.ok);
  } catch (e) { say(String(e), true); }
}

function button(label, action, name) {
  const b = document.createElement("button");
  b.textContent = label;
  b.dataset.action = action;
  b.dataset.name = name;
  b.addEventListener("click", () => action === "tail" ? tail(name) : act(action, name));
  return b;
}

// supervisord's page's classes of a state, which checks may look for.
function statusClass(state) {
  if (state === "RUNNING") return "statusrunning";
  return state === "FATAL" || state === "BACKOFF" ? "statuserror" : "statusnominal";
}

function render(procs) {
  const groups = new Map();
  for (const p of procs) {
    if (!groups.has(p.group)) groups.set(p.group, []);
    groups.get(p.group).push(p);
  }
  const frag = document.createDocumentFragment();
  for (const [group, members] of groups) {
    const sec = document.createElement("section");
    sec.dataset.group = group;
    const h = document.createElement("h2");
    h.textContent = group;
    sec.appendChild(h);
    for (const p of members) {
      const row = document.createElement("div");
      row.className = "row";
      row.dataset.process = p.spec;
      row.dataset.pid = p.pid;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = p.spec;
      const st = document.createElement("span");
      st.className = "state " + p.state.toLowerCase() + " " + statusClass(p.state);
      st.textContent = p.state.toLowerCase(); // as supervisord's page writes it
      const desc = document.createElement("span");
      desc.className = "desc" + (p.backoff || p.state === "FATAL" ? " alert" : "");
      desc.textContent = p.description;
      if (p.up !== undefined) { desc.dataset.up = p.up; desc.dataset.pid = p.pid; }
      if (p.left !== undefined) { desc.dataset.left = p.left; desc.dataset.spawnerr = p.spawnerr; }
      const acts = document.createElement("span");
      acts.className = "actions";
      const running = ["RUNNING", "STARTING", "BACKOFF"].includes(p.state);
      acts.append(running ? button("Stop", "stop", p.spec) : button("Start", "start", p.spec),
        button("Restart", "restart", p.spec), button("Tail", "tail", p.spec), button("Clear log", "clear", p.spec));
      row.append(name, st, desc, acts);
      sec.appendChild(row);
    }
    frag.appendChild(sec);
  }
  groupsEl.replaceChildren(frag);
  renderedAt = performance.now();
}

// Between pushes (which come only with changes), uptimes count up and a
// crash loop's time left counts down, as status would show them.
let renderedAt = 0;
function uptime(s) {
  const days = Math.floor(s / 86400);
  s %= 86400;
  const hms = Math.floor(s / 3600) + ":" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  return days === 0 ? hms : (days === 1 ? "1 day, " : days + " days, ") + hms;
}
function tick() {
  if (live.className !== "on") return; // reconnecting: what it shows may be gone
  const gone = Math.floor((performance.now() - renderedAt) / 1000);
  for (const d of groupsEl.querySelectorAll(".desc[data-up]")) d.textContent = "pid " + d.dataset.pid + ", uptime " + uptime(+d.dataset.up + gone);
  for (const d of groupsEl.querySelectorAll(".desc[data-left]")) d.textContent = d.dataset.spawnerr + ", restarting in " + Math.max(+d.dataset.left - gone, 0) + "s";
}
setInterval(tick, 1000);

let es = null;
function connect() {
  if (es) return;
  es = new EventSource("ui/state");
  es.onopen = () => { live.textContent = "live"; live.className = "on"; };
  es.onmessage = (e) => render(JSON.parse(e.data));
  es.onerror = () => { live.textContent = "reconnecting…"; live.className = ""; };
}
// A hidden tab gives its connection back (browsers allow six per server).
document.addEventListener("visibilitychange", () => {
  if (document.hidden) { if (es) { es.close(); es = null; } live.textContent = "paused"; live.className = ""; }
  else connect();
});

let tailAbort = null;
async function tail(name) {
  if (tailAbort) tailAbort.abort();
  tailAbort = new AbortController();
  const box = document.getElementById("tail");
  const text = document.getElementById("tail-text");
  document.getElementById("tail-title").textContent = "tail -f " + name;
  text.textContent = "";
  box.className = "open";
  try {
    const r = await fetch("logtail/" + encodeURIComponent(name), { signal: tailAbort.signal });
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atEnd = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
      text.textContent += dec.decode(value, { stream: true });
      if (text.textContent.length > 200000) text.textContent = text.textContent.slice(-100000);
      if (atEnd) text.scrollTop = text.scrollHeight;
    }
  } catch (e) { if (e.name !== "AbortError") say(String(e), true); }
}
document.getElementById("tail-close").addEventListener("click", () => {
  if (tailAbort) tailAbort.abort();
  document.getElementById("tail").className = "";
});
for (const b of document.querySelectorAll("[data-all]")) b.addEventListener("click", () => act(b.dataset.all));
connect();
