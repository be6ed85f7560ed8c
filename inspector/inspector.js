// duro inspector: the admin listener's page. Live charts from the
// WebSocket /api/live (a sample a second), and a browser of namespaces,
// objects, their sockets, alarms and storage over the JSON API, with the
// operator's actions (evict, close a socket, delete an alarm).
// No dependencies: plain DOM and canvas. Text from the server only ever
// goes into textContent, never into HTML.
'use strict';

const MAX_SAMPLES = 300;
const state = {
  samples: [],
  token: sessionStorage.getItem('duro-admin-token') || '',
  ws: null,
  retryMs: 1000,
  charts: [],
};

// ---- small DOM helpers -------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const view = () => document.getElementById('view');

function toast(text, isError) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.className = isError ? 'toast error' : 'toast';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, isError ? 7000 : 3500);
}

function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + ' k';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function fmtBytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function fmtAge(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function fmtWhen(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = ms - Date.now();
  const abs = Math.abs(d) / 1000;
  const rel = abs < 1 ? 'now' : d > 0 ? `in ${fmtAge(Math.round(abs))}` : `${fmtAge(Math.round(abs))} ago`;
  return `${new Date(ms).toLocaleTimeString()} (${rel})`;
}

// A name, key or tag as the API gives it: text, or {hex} / *_hex when
// its bytes are not UTF-8 text.
function shown(text, hex) {
  if (text !== undefined && text !== null) return text;
  if (hex !== undefined) return el('span', { class: 'mono', title: 'not UTF-8: shown in hex' }, `0x${hex}`);
  return el('span', { class: 'muted', text: '(none)' });
}

// ---- the API -------------------------------------------------------------

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function askToken() {
  const dlg = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  input.value = '';
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      if (dlg.returnValue === 'ok' && input.value) {
        state.token = input.value;
        sessionStorage.setItem('duro-admin-token', state.token);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
  });
}

async function api(path, opts = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await fetch(path, { ...opts, headers: { ...authHeaders(), ...(opts.headers || {}) } });
    if (res.status === 401) {
      if (!(await askToken())) throw new Error('the admin API needs the token');
      connectLive(true);
      continue;
    }
    const type = res.headers.get('content-type') || '';
    const body = type.includes('json') ? await res.json() : { error: await res.text() };
    if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
    return body;
  }
  throw new Error('the token was refused');
}

const enc = encodeURIComponent;
const objPath = (ns, id) => `/api/namespaces/${enc(ns)}/objects/${id}`;

// ---- the live feed -------------------------------------------------------

function setLive(mode, text) {
  document.getElementById('live-dot').className = `dot ${mode}`;
  document.getElementById('live-text').textContent = text;
}

function b64url(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function connectLive(restart) {
  if (state.ws && !restart) return;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); }
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`;
  // A browser cannot set Authorization on a WebSocket: the token goes as
  // a subprotocol, which duro accepts beside "duro-admin".
  const ws = state.token ? new WebSocket(url, ['duro-admin', `bearer.${b64url(state.token)}`]) : new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => { state.retryMs = 1000; setLive('live', 'live'); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.version) document.getElementById('version').textContent = `v${msg.version}`;
    if (msg.history) state.samples = msg.history.slice(-MAX_SAMPLES);
    if (msg.sample) {
      state.samples.push(msg.sample);
      if (state.samples.length > MAX_SAMPLES) state.samples.shift();
    }
    renderCharts();
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    setLive('down', 'reconnecting');
    setTimeout(() => connectLive(false), state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 15000);
  };
}

// ---- charts ----------------------------------------------------------------

const CHARTS = [
  { id: 'connections', title: 'Connections', unit: '',
    series: [{ key: 'connections', label: 'TCP', color: '--blue' }, { key: 'websockets', label: 'WebSockets', color: '--accent' }] },
  { id: 'messages', title: 'Messages / s', unit: '/s',
    series: [{ key: 'messages_out_per_s', label: 'out', color: '--accent' }, { key: 'messages_in_per_s', label: 'in', color: '--violet' }] },
  { id: 'deliveries', title: 'Deliveries / s', unit: '/s',
    series: [{ key: 'deliveries_per_s', label: 'broadcast deliveries', color: '--green' }, { key: 'requests_per_s', label: 'HTTP requests', color: '--blue' }] },
  { id: 'commit', title: 'Commit latency p99', unit: ' ms', digits: 2,
    series: [{ key: 'commit_p99_ms', label: 'p99 of each second', color: '--amber' }, { key: 'commits_per_s', label: 'commits/s (right)', color: '--muted', right: true }] },
  { id: 'lag', title: 'Event loop lag p99', unit: ' ms', digits: 2,
    series: [{ key: 'loop_lag_p99_ms', label: 'p99 of each second', color: '--rose' }] },
  { id: 'memory', title: 'Memory (RSS)', bytes: true,
    series: [{ key: 'rss_bytes', label: 'resident set', color: '--blue' }, { key: 'objects', label: 'objects in memory (right)', color: '--muted', right: true }] },
];

// Digits for axis labels of a step.
const tickDigits = (step) => (Number.isInteger(step) ? 0 : Number.isInteger(step * 10) ? 1 : 2);

// The window shown: what the samples cover, from one to five minutes.
function windowMs(samples) {
  if (samples.length < 2) return 60000;
  const span = samples[samples.length - 1].t_ms - samples[0].t_ms;
  return Math.min(MAX_SAMPLES * 1000, Math.max(60000, Math.ceil(span / 60000) * 60000));
}

const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// A round step for four grid lines over values up to v (scale: the unit
// the step should be round in, 2^20 for bytes).
function niceStep(v, scale = 1) {
  const raw = v / scale / 4;
  if (raw <= 0) return 0.25 * scale;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p * scale;
  return 10 * p * scale;
}

function drawChart(canvas, def, samples) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const padL = def.bytes ? 62 : 46, padR = def.series.some((s) => s.right) ? 40 : 8, padT = 6, padB = 18;
  const pw = w - padL - padR, ph = h - padT - padB;
  const left = def.series.filter((s) => !s.right), right = def.series.filter((s) => s.right);
  const stepOf = (ss, scale) => niceStep(Math.max(0, ...samples.flatMap((x) => ss.map((s) => x[s.key] || 0))) * 1.05, scale);
  const stepL = stepOf(left, def.bytes ? 1048576 : 1), stepR = right.length ? stepOf(right, 1) : 1;
  const maxL = stepL * 4, maxR = stepR * 4;
  const now = samples.length ? samples[samples.length - 1].t_ms : Date.now();
  const span = windowMs(samples);
  const xOf = (t) => padL + pw - ((now - t) / span) * pw;

  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = cssVar('--line');
  g.fillStyle = cssVar('--muted');
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = padT + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(padL, Math.round(y) + 0.5); g.lineTo(padL + pw, Math.round(y) + 0.5); g.stroke();
    g.textAlign = 'right';
    const v = stepL * i;
    g.fillText(def.bytes ? `${fmtNum(v / 1048576, tickDigits(stepL / 1048576))} MiB` : fmtNum(v, tickDigits(stepL)), padL - 6, y + 4);
    if (right.length) { g.textAlign = 'left'; g.fillText(fmtNum(stepR * i, tickDigits(stepR)), padL + pw + 6, y + 4); }
  }
  g.textAlign = 'center';
  for (let k = 0; k <= 4; k++) {
    const ago = (span * k) / 4 / 1000;
    const label = k === 0 ? 'now' : ago < 60 || ago % 60 ? `-${Math.round(ago)} s` : `-${ago / 60} min`;
    g.fillText(label, padL + pw - (pw * k) / 4, h - 4);
  }

  for (const s of def.series) {
    const max = s.right ? maxR : maxL;
    g.strokeStyle = cssVar(s.color);
    g.lineWidth = s.right ? 1 : 1.8;
    g.setLineDash(s.right ? [3, 3] : []);
    g.beginPath();
    let started = false;
    for (const x of samples) {
      const px = xOf(x.t_ms), py = padT + ph - ((x[s.key] || 0) / max) * ph;
      if (px < padL) continue;
      if (!started) { g.moveTo(px, py); started = true; } else g.lineTo(px, py);
    }
    g.stroke();
  }
  g.setLineDash([]);
}

function chartCard(def) {
  const canvas = el('canvas', { height: 150 });
  const now = el('span', { class: 'now', text: '–' });
  const card = el('section', { class: 'chart', dataset: { chart: def.id, points: '0' } },
    el('header', {}, el('h2', { text: def.title }), now),
    el('div', { class: 'legend' }, def.series.map((s) =>
      el('span', {}, el('i', { style: `background: var(${s.color})` }), s.label))),
    canvas);
  return { def, card, canvas, now };
}

function renderCharts() {
  const last = state.samples[state.samples.length - 1];
  for (const c of state.charts) {
    if (!c.card.isConnected) continue;
    drawChart(c.canvas, c.def, state.samples);
    const main = c.def.series[0];
    const v = last ? last[main.key] : null;
    c.now.textContent = v === null || v === undefined ? '–'
      : c.def.bytes ? fmtBytes(v) : `${fmtNum(v, c.def.digits || (v < 10 ? 1 : 0))}${c.def.unit}`;
    c.card.dataset.points = String(state.samples.length);
    c.card.dataset.last = v === null ? '' : String(v);
    // the largest value of the window, for a glance (and for tests)
    c.card.dataset.peak = String(Math.max(0, ...state.samples.map((x) => x[main.key] || 0)));
  }
  const tiles = document.querySelectorAll('[data-tile]');
  for (const t of tiles) {
    const k = t.dataset.tile;
    const v = last ? last[k] : null;
    t.querySelector('.value').textContent = v === null ? '–' : k === 'rss_bytes' ? fmtBytes(v) : fmtNum(v);
  }
}

// ---- views -------------------------------------------------------------------

async function overview() {
  const tiles = el('div', { class: 'tiles' },
    [['connections', 'Connections'], ['websockets', 'WebSockets'], ['objects', 'Objects in memory'], ['rss_bytes', 'Memory (RSS)']]
      .map(([k, label]) => el('div', { class: 'tile', dataset: { tile: k } },
        el('div', { class: 'label', text: label }), el('div', { class: 'value', text: '–' }))));
  state.charts = CHARTS.map(chartCard);
  const nsPanel = el('section', { class: 'panel' },
    el('div', { class: 'panel-head' }, el('h2', { text: 'Namespaces' }), el('span', { class: 'grow' }),
      el('a', { href: '#/namespaces', text: 'Browse objects →' })),
    el('div', { class: 'empty', text: 'Loading…' }));
  view().replaceChildren(tiles, el('div', { class: 'charts' }, state.charts.map((c) => c.card)), nsPanel);
  renderCharts();
  // the namespaces' counts follow along while the overview is shown
  const refresh = async () => {
    if (!nsPanel.isConnected) return;
    try {
      nsPanel.lastChild.replaceWith(namespaceTable((await api('/api/namespaces')).namespaces));
    } catch (e) {
      nsPanel.lastChild.replaceWith(el('div', { class: 'empty', text: e.message }));
    }
    if (nsPanel.isConnected) setTimeout(refresh, 2000);
  };
  await refresh();
}

function namespaceTable(list) {
  if (!list.length) return el('div', { class: 'empty', text: 'No namespaces are bound.' });
  return el('table', {},
    el('thead', {}, el('tr', {}, el('th', { text: 'Binding' }), el('th', { text: 'Class' }),
      el('th', { class: 'num', text: 'In memory' }), el('th', { class: 'num', text: 'WebSockets' }))),
    el('tbody', {}, list.map((n) => el('tr', { dataset: { ns: n.binding } },
      el('td', {}, el('a', { href: `#/ns/${enc(n.binding)}`, text: n.binding })),
      el('td', { class: 'mono', text: n.class }),
      el('td', { class: 'num', text: fmtNum(n.active) }),
      el('td', { class: 'num', text: fmtNum(n.sockets) })))));
}

async function namespaces() {
  const panel = el('section', { class: 'panel' }, el('div', { class: 'panel-head' }, el('h2', { text: 'Namespaces' })),
    el('div', { class: 'empty', text: 'Loading…' }));
  view().replaceChildren(el('h1', { text: 'Objects' }),
    el('p', { class: 'muted', text: 'Every bound namespace; open one for its objects, in storage and in memory alike.' }), panel);
  panel.lastChild.replaceWith(namespaceTable((await api('/api/namespaces')).namespaces));
}

async function objects(ns, cursor) {
  const q = new URLSearchParams({ limit: '50' });
  if (cursor) q.set('cursor', cursor);
  const page = await api(`/api/namespaces/${enc(ns)}/objects?${q}`);
  const open = el('form', { class: 'inline-form', onsubmit: (ev) => {
    ev.preventDefault();
    const v = ev.target.elements.x.value.trim();
    if (v) location.hash = `#/ns/${enc(ns)}/o/${/^[0-9a-f]{64}$/.test(v) ? v : enc(v)}`;
  } }, el('input', { name: 'x', placeholder: 'object name or id', style: 'width: 260px' }), el('button', { text: 'Open' }));
  const rows = page.objects.map((o) => el('tr', { dataset: { object: o.id } },
    el('td', {}, el('a', { href: `#/ns/${enc(ns)}/o/${o.id}` }, shown(o.name, o.name_hex)),
      el('div', { class: 'id', text: o.id })),
    el('td', {}, el('span', { class: `badge ${o.active ? 'on' : 'off'}`, text: o.active ? 'in memory' : 'in storage' })),
    el('td', { class: 'num', text: fmtNum(o.sockets) }),
    el('td', { class: 'num', text: fmtNum(o.keys) }),
    el('td', { class: 'num', text: fmtBytes(o.bytes) }),
    el('td', { text: fmtWhen(o.next_alarm_ms) })));
  const next = page.cursor
    ? el('a', { href: `#/ns/${enc(ns)}?cursor=${page.cursor}`, text: 'Next page →' })
    : el('span', { class: 'muted', text: 'last page' });
  view().replaceChildren(
    el('div', { class: 'crumbs' }, el('a', { href: '#/namespaces', text: 'Objects' }), ' / ', ns),
    el('h1', { text: ns }),
    el('section', { class: 'panel' },
      el('div', { class: 'panel-head' }, el('h2', { text: cursor ? 'Objects (continued)' : 'Objects' }), open,
        el('span', { class: 'grow' }), cursor ? el('a', { href: `#/ns/${enc(ns)}`, text: '← first page' }) : null, next),
      rows.length
        ? el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'Object' }), el('th', { text: 'State' }),
          el('th', { class: 'num', text: 'Sockets' }), el('th', { class: 'num', text: 'Keys' }),
          el('th', { class: 'num', text: 'Bytes' }), el('th', { text: 'Next alarm' }))), el('tbody', {}, rows))
        : el('div', { class: 'empty', text: 'No objects yet.' })));
}

async function act(path, what) {
  try {
    const res = await api(path, { method: 'POST' });
    toast(`${what}: ${JSON.stringify(res)}`);
    return true;
  } catch (e) {
    toast(`${what} failed: ${e.message}`, true);
    return false;
  }
}

function storageValue(e) {
  if (e.value === undefined) return el('pre', { class: 'muted', title: 'not JSON: shown in hex' }, `0x${e.value_hex}`);
  let text = e.value;
  try { text = JSON.stringify(JSON.parse(e.value), null, 2); } catch { /* shown as it is */ }
  return el('pre', { text });
}

async function object(ns, x) {
  const base = objPath(ns, x);
  const o = await api(base);
  const reload = () => route();
  const sockets = o.socket_list.map((s) => {
    const code = el('input', { value: '1000', 'aria-label': 'close code', inputmode: 'numeric' });
    const reason = el('input', { class: 'reason', placeholder: 'reason', 'aria-label': 'close reason' });
    return el('tr', { dataset: { socket: s.index } },
      el('td', { class: 'num', text: s.index }),
      el('td', {}, s.tags.length ? s.tags.map((t) => el('span', { class: 'tag' }, typeof t === 'string' ? t : `0x${t.hex}`)) : el('span', { class: 'muted', text: 'none' })),
      el('td', { class: 'num', text: fmtBytes(s.attachment_bytes) }),
      el('td', { class: 'num', text: fmtBytes(s.queued_bytes) }),
      el('td', { class: 'num', text: fmtAge(s.age_s) }),
      el('td', {}, el('form', { class: 'inline-form', onsubmit: async (ev) => {
        ev.preventDefault();
        const q = new URLSearchParams({ code: code.value });
        if (reason.value) q.set('reason', reason.value);
        if (await act(`${base}/sockets/${s.index}/close?${q}`, `close socket ${s.index}`)) {
          // the socket leaves the list when its closing handshake ends,
          // a moment after the action's answer: look again then too
          const here = location.hash;
          reload();
          setTimeout(() => { if (location.hash === here) reload(); }, 1000);
        }
      } }, code, reason, el('button', { class: 'danger', text: 'Close' }))));
  });
  const alarms = o.alarms.map((a) => el('tr', {},
    el('td', {}, a.name === '' ? el('span', { class: 'muted', text: '(default)' }) : shown(a.name, a.name_hex)),
    el('td', { text: fmtWhen(a.due_ms) }),
    el('td', {}, a.name_hex !== undefined ? null : el('button', { class: 'danger', text: 'Delete', onclick: async () => {
      if (await act(`${base}/alarms/delete?name=${enc(a.name)}`, `delete alarm '${a.name}'`)) reload();
    } }))));
  const storageBody = el('tbody', {});
  const more = el('button', { text: 'Load more', hidden: true });
  let cursor = null;
  const loadStorage = async () => {
    const q = new URLSearchParams({ limit: '100' });
    if (cursor) q.set('cursor', cursor);
    const page = await api(`${base}/storage?${q}`);
    for (const e of page.entries)
      storageBody.append(el('tr', { dataset: { key: e.key ?? e.key_hex } },
        el('td', { class: 'mono' }, shown(e.key, e.key_hex)),
        el('td', { class: 'value' }, storageValue(e)),
        el('td', { class: 'num', text: fmtBytes(e.value_bytes) })));
    cursor = page.cursor;
    more.hidden = !cursor;
    if (!storageBody.children.length)
      storageBody.append(el('tr', {}, el('td', { colspan: 3, class: 'empty', text: 'No keys stored.' })));
  };
  more.addEventListener('click', () => loadStorage().catch((e) => toast(e.message, true)));

  view().replaceChildren(
    el('div', { class: 'crumbs' }, el('a', { href: '#/namespaces', text: 'Objects' }), ' / ',
      el('a', { href: `#/ns/${enc(ns)}`, text: ns })),
    el('div', { class: 'panel-head' },
      el('h1', {}, shown(o.name, o.name_hex)),
      el('span', { class: `badge ${o.active ? 'on' : 'off'}`, text: o.active ? 'in memory' : 'in storage' }),
      el('span', { class: 'grow' }),
      el('button', { text: 'Refresh', onclick: reload }),
      el('button', { class: 'danger', text: 'Evict', disabled: !o.active,
        title: 'take the idle instance out of memory (its storage stays)',
        onclick: async () => { if (await act(`${base}/evict`, 'evict')) reload(); } })),
    el('div', { class: 'id', text: o.id }),
    el('div', { class: 'facts' },
      el('div', {}, el('span', { text: 'Sockets' }), el('b', { text: fmtNum(o.sockets) })),
      el('div', {}, el('span', { text: 'Keys' }), el('b', { text: fmtNum(o.keys) })),
      el('div', {}, el('span', { text: 'Stored' }), el('b', { text: fmtBytes(o.bytes) })),
      el('div', {}, el('span', { text: 'Alarms' }), el('b', { text: fmtNum(o.alarms.length) }))),
    el('section', { class: 'panel', id: 'sockets' },
      el('div', { class: 'panel-head' }, el('h2', { text: `WebSockets (${o.socket_list.length})` })),
      sockets.length
        ? el('table', {}, el('thead', {}, el('tr', {}, el('th', { class: 'num', text: '#' }), el('th', { text: 'Tags' }),
          el('th', { class: 'num', text: 'Attachment' }), el('th', { class: 'num', text: 'Queued' }),
          el('th', { class: 'num', text: 'Age' }), el('th', { text: 'Close with code' }))), el('tbody', {}, sockets))
        : el('div', { class: 'empty', text: o.active ? 'No sockets open.' : 'Not in memory: no sockets.' })),
    el('section', { class: 'panel', id: 'alarms' },
      el('div', { class: 'panel-head' }, el('h2', { text: `Alarms (${o.alarms.length})` })),
      alarms.length
        ? el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'Name' }), el('th', { text: 'Due' }), el('th', {}))),
          el('tbody', {}, alarms))
        : el('div', { class: 'empty', text: 'No alarms set.' })),
    el('section', { class: 'panel', id: 'storage' },
      el('div', { class: 'panel-head' }, el('h2', { text: 'Storage' }), el('span', { class: 'grow' }),
        el('span', { class: 'muted', text: 'keys in order; values shown as JSON when they parse, else in hex' })),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'Key' }), el('th', { text: 'Value' }),
        el('th', { class: 'num', text: 'Bytes' }))), storageBody),
      el('div', { class: 'row-end' }, more)));
  await loadStorage();
}

// ---- routing -------------------------------------------------------------------

async function route() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const parts = (path || '/').split('/').filter(Boolean).map(decodeURIComponent);
  const nav = parts[0] === 'namespaces' || parts[0] === 'ns' ? 'namespaces' : 'overview';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('on', a.dataset.nav === nav);
  try {
    if (parts[0] === 'namespaces') await namespaces();
    else if (parts[0] === 'ns' && parts.length === 2) await objects(parts[1], new URLSearchParams(query).get('cursor'));
    else if (parts[0] === 'ns' && parts[2] === 'o' && parts.length === 4) await object(parts[1], enc(parts[3]));
    else await overview();
  } catch (e) {
    view().replaceChildren(el('div', { class: 'panel' }, el('h2', { text: 'Could not load this view' }),
      el('p', { class: 'muted', text: e.message }), el('a', { href: '#/', text: '← Overview' })));
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('resize', renderCharts);
connectLive(false);
route();
