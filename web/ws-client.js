// ws-client.js: the browser's WebSocket client for the countdown demo.
//
// WebSocketManager keeps one socket open to the server and reports its
// state ('disconnected' | 'connecting' | 'connected') and every JSON
// message to its subscribers. After an unexpected close it reconnects with
// exponential backoff (initialDelay, doubling, capped at maxDelay, back to
// initialDelay after a successful open). An error closes the socket, and
// the close then schedules the reconnect. disconnect() is explicit: it
// closes the socket, cancels a pending reconnect and stops reconnecting
// until connect() is called again.
//
// While a reconnect is pending the state is 'disconnected'; it becomes
// 'connecting' when the next attempt starts.
//
// The module has no dependencies, so it runs unchanged in browsers and in
// Node (tests pass the `ws` package's WebSocket as WebSocketImpl).

/** @typedef {'disconnected' | 'connecting' | 'connected'} WsState */

const OPEN_OR_CONNECTING = new Set([0, 1]); // WebSocket.CONNECTING, WebSocket.OPEN

export class WebSocketManager {
  #url;
  #initialDelay;
  #maxDelay;
  #WebSocketImpl;
  /** @type {WsState} */
  #state = 'disconnected';
  #ws = null;
  #timer = null;
  #delay;
  #wanted = false; // true between connect() and disconnect()
  #stateListeners = new Set();
  #messageListeners = new Set();

  /**
   * @param {string | URL | {url: string | URL, initialDelay?: number,
   *          maxDelay?: number, WebSocketImpl?: typeof WebSocket}} options
   */
  constructor(options) {
    const o = typeof options === 'string' || options instanceof URL
      ? { url: options } : { ...options };
    if (!o.url) throw new TypeError('WebSocketManager: a url is required');
    this.#url = String(o.url);
    this.#initialDelay = positive(o.initialDelay, 1000);
    this.#maxDelay = Math.max(positive(o.maxDelay, 30000), this.#initialDelay);
    this.#WebSocketImpl = o.WebSocketImpl || null; // resolved at connect time
    this.#delay = this.#initialDelay;
  }

  /** @returns {WsState} */
  get state() { return this.#state; }

  get url() { return this.#url; }

  /** The delay the next reconnect will wait, in milliseconds. */
  get nextDelay() { return this.#delay; }

  /**
   * Subscribes to state changes. cb(state) is called on each change (not
   * with the current state; read `state` for that). Returns an
   * unsubscribe function.
   */
  onState(cb) { return subscribe(this.#stateListeners, cb); }

  /**
   * Subscribes to messages. cb(value) gets each message's parsed JSON.
   * Returns an unsubscribe function.
   */
  onMessage(cb) { return subscribe(this.#messageListeners, cb); }

  /**
   * Opens the socket (and keeps it open) unless one is already open or
   * opening. A pending reconnect is replaced by an attempt right now.
   */
  connect() {
    this.#wanted = true;
    if (this.#ws) return;
    this.#clearTimer();
    this.#open();
  }

  /** Closes the socket, cancels any pending reconnect, stops reconnecting. */
  disconnect() {
    this.#wanted = false;
    this.#clearTimer();
    const ws = this.#ws;
    this.#ws = null; // its late events are ignored from now on
    if (ws && OPEN_OR_CONNECTING.has(ws.readyState)) {
      try { ws.close(1000); } catch { /* already closing */ }
    }
    this.#delay = this.#initialDelay;
    this.#setState('disconnected');
  }

  #open() {
    const Impl = this.#WebSocketImpl || globalThis.WebSocket;
    this.#setState('connecting');
    let ws;
    try {
      if (!Impl) throw new Error('no WebSocket implementation available');
      ws = new Impl(this.#url);
    } catch (err) {
      // A bad URL or a blocked port throws synchronously in browsers.
      console.error('[ws] cannot open', this.#url, err);
      this.#setState('disconnected');
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;

    // Every handler first checks that ws is still the current socket, so
    // events from a socket we have given up on change nothing. Handlers
    // stay attached (Node's `ws` throws on an 'error' with no listener).
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#delay = this.#initialDelay;
      this.#setState('connected');
    };
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      let value;
      try {
        if (typeof event.data !== 'string') throw new TypeError('binary message');
        value = JSON.parse(event.data);
      } catch (err) {
        console.error('[ws] skipping a message that is not JSON:', err);
        return;
      }
      emit(this.#messageListeners, value);
    };
    ws.onerror = () => {
      if (this.#ws !== ws) return;
      // The close event follows and schedules the reconnect.
      if (OPEN_OR_CONNECTING.has(ws.readyState)) {
        try { ws.close(); } catch { /* already closing */ }
      }
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#setState('disconnected');
      if (this.#wanted) this.#scheduleReconnect();
    };
  }

  #scheduleReconnect() {
    if (this.#timer !== null || !this.#wanted) return;
    const delay = this.#delay;
    this.#delay = Math.min(this.#delay * 2, this.#maxDelay);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#wanted && !this.#ws) this.#open();
    }, delay);
  }

  #clearTimer() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #setState(s) {
    if (s === this.#state) return;
    this.#state = s;
    emit(this.#stateListeners, s);
  }
}

/**
 * The socket URL for the page, from the page's config and location:
 * config.wsHost and config.wsPath override the defaults. In development
 * and test (config.mode) the socket goes straight to the backend,
 * `<location.hostname>:<config.backendPort>` and `/ws/connect`; otherwise
 * to the page's own host and `/api/ws/connect`. The scheme is wss: when
 * the page is https:. wsHost may also be a full ws:// or wss:// origin.
 */
export function wsUrlFromConfig(config, location) {
  const c = config || {};
  const dev = c.mode === 'development' || c.mode === 'test'; // test behaves like development
  let scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let host = nonEmpty(c.wsHost);
  if (host) {
    const m = /^(wss?:)\/\/(.*)$/i.exec(host);
    if (m) { scheme = m[1].toLowerCase(); host = m[2]; }
    host = host.replace(/\/+$/, '');
  } else if (dev) {
    host = `${location.hostname}:${c.backendPort || 8787}`;
  } else {
    host = location.host;
  }
  let path = nonEmpty(c.wsPath) || (dev ? '/ws/connect' : '/api/ws/connect');
  if (!path.startsWith('/')) path = `/${path}`;
  return `${scheme}//${host}${path}`;
}

function positive(v, dflt) {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt;
}

function nonEmpty(v) {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

function subscribe(set, cb) {
  if (typeof cb !== 'function') throw new TypeError('listener must be a function');
  // Wrapped so the same function may subscribe twice and unsubscribe once.
  const entry = (v) => cb(v);
  set.add(entry);
  return () => { set.delete(entry); };
}

function emit(set, value) {
  for (const fn of [...set]) {
    try {
      fn(value);
    } catch (err) {
      // A faulty listener must not break the connection logic.
      console.error('[ws] listener failed:', err);
    }
  }
}
