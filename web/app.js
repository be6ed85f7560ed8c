// app.js: the front page's script. Connects the WebSocket (ws-client.js),
// shows its state, lists the countdown messages, and turns the "Start
// Countdown" form into a fetch so the page does not reload. Without this
// script the form still works as a plain POST.
//
// Configuration comes from <script type="application/json" id="duro-config">:
//   { mode, backendPort, wsHost, wsPath,
//     strings: { connected, connecting, disconnected, countLine,
//                startFailed, networkError } }
// Every string is optional: the status texts fall back to the
// data-text-* attributes of #ws-status, then to English. countLine has
// {count} and {time}; startFailed has {status}.

import { WebSocketManager, wsUrlFromConfig } from './ws-client.js';

const DEFAULT_STRINGS = {
  connected: 'Connected',
  connecting: 'Connecting...',
  disconnected: 'Disconnected',
  countLine: 'Count: {count} (at {time})',
  startFailed: 'Could not start the countdown (HTTP {status}).',
  networkError: 'Could not reach the server.',
};

// Bounds the DOM when the page stays open for days.
const MAX_ITEMS = 500;

function readConfig() {
  const el = document.getElementById('duro-config');
  try {
    const c = el ? JSON.parse(el.textContent || '{}') : {};
    return c && typeof c === 'object' ? c : {};
  } catch (err) {
    console.error('[duro] bad page config:', err);
    return {};
  }
}

function format(template, values) {
  return String(template).replace(/\{(\w+)\}/g,
    (whole, key) => (key in values ? String(values[key]) : whole));
}

const pad2 = (n) => String(n).padStart(2, '0');

// HH:MM:SS in the browser's time zone, 24-hour clock.
function clockTime(date) {
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
}

function messageDate(timestamp) {
  const d = typeof timestamp === 'number' || typeof timestamp === 'string'
    ? new Date(timestamp) : new Date(NaN);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

function main() {
  document.documentElement.setAttribute('data-js', '');

  const config = readConfig();
  const statusEl = document.getElementById('ws-status');
  // Status texts: built-in English < the page's data-text-* attributes <
  // config.strings.
  const fromPage = {};
  for (const k of ['connected', 'connecting', 'disconnected']) {
    const v = statusEl?.getAttribute(`data-text-${k}`);
    if (v) fromPage[k] = v;
  }
  const strings = { ...DEFAULT_STRINGS, ...fromPage, ...(config.strings || {}) };

  const statusText = document.getElementById('ws-status-text');
  const form = document.getElementById('countdown-form');
  const button = document.getElementById('start-countdown');
  const formError = document.getElementById('form-error');
  const latest = document.getElementById('latest-count');
  const list = document.getElementById('messages');
  const empty = document.getElementById('messages-empty');
  const clear = document.getElementById('clear-messages');

  let submitting = false;
  const manager = new WebSocketManager(wsUrlFromConfig(config, window.location));

  function render(state) {
    if (statusEl) statusEl.dataset.state = state;
    if (statusText) statusText.textContent = strings[state] || state;
    if (button) button.disabled = submitting || state !== 'connected';
  }

  function updateEmpty() {
    if (empty && list) empty.hidden = list.children.length > 0;
  }

  function addMessage(msg) {
    if (!list) return;
    const li = document.createElement('li');
    if (msg && typeof msg === 'object' && 'count' in msg) {
      li.textContent = format(strings.countLine, {
        count: msg.count,
        time: clockTime(messageDate(msg.timestamp)),
      });
      if (latest) latest.textContent = String(msg.count);
    } else {
      // Anything else broadcast to the room is shown as it came.
      li.textContent = JSON.stringify(msg);
    }
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 8;
    list.appendChild(li);
    while (list.children.length > MAX_ITEMS) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
    updateEmpty();
  }

  function showError(text) {
    if (!formError) return;
    formError.textContent = text;
    formError.hidden = !text;
  }

  manager.onState(render);
  manager.onMessage(addMessage);

  clear?.addEventListener('click', () => {
    list?.replaceChildren();
    if (latest) latest.textContent = '–';
    updateEmpty();
  });

  form?.addEventListener('submit', async (event) => {
    if (typeof fetch !== 'function') return; // plain POST
    event.preventDefault();
    if (submitting || manager.state !== 'connected') return;
    submitting = true;
    showError('');
    render(manager.state);
    try {
      const res = await fetch(form.action, {
        method: 'POST',
        headers: { 'x-duro-enhanced': '1', accept: 'application/json' },
        body: new URLSearchParams(new FormData(form)),
        credentials: 'same-origin',
      });
      if (!res.ok) showError(format(strings.startFailed, { status: res.status }));
    } catch (err) {
      console.error('[duro] countdown request failed:', err);
      showError(strings.networkError);
    } finally {
      submitting = false;
      render(manager.state);
    }
  });

  // Leave no socket open in the back/forward cache; reopen when restored.
  window.addEventListener('pagehide', () => manager.disconnect());
  window.addEventListener('pageshow', (e) => { if (e.persisted) manager.connect(); });

  render(manager.state);
  updateEmpty();
  manager.connect();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
