// The browser's socket to the countdown: one WebSocket kept open, its
// state ('disconnected' | 'connecting' | 'connected') and every JSON
// message reported to subscribers. After an unexpected close it
// reconnects after 1 s, doubling up to 30 s, back to 1 s once a socket
// opens; an error closes the socket, whose close then reconnects.
// disconnect() cancels a pending reconnect.
//
// The URL: the page's own host and /api/ws/connect (wss: on https:),
// which the app's route forwards to MessageCoordinator("global") with
// stub.fetch(request); VITE_WS_HOST and VITE_WS_PATH override host and
// path (the seed's dev setup points them at the backend directly).
export type WsState = 'disconnected' | 'connecting' | 'connected';

export function wsUrl(location: Location): string {
  const host = import.meta.env.VITE_WS_HOST || location.host;
  const path = import.meta.env.VITE_WS_PATH || '/api/ws/connect';
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${host}${path}`;
}

export class WebSocketManager {
  state: WsState = 'disconnected';
  #url: string;
  #ws: WebSocket | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #delay = 1000;
  #wanted = false;
  #onState = new Set<(s: WsState) => void>();
  #onMessage = new Set<(m: unknown) => void>();

  constructor(url: string, readonly initialDelay = 1000, readonly maxDelay = 30000) {
    this.#url = url;
    this.#delay = initialDelay;
  }

  onState(cb: (s: WsState) => void) {
    this.#onState.add(cb);
    return () => this.#onState.delete(cb);
  }

  onMessage(cb: (m: unknown) => void) {
    this.#onMessage.add(cb);
    return () => this.#onMessage.delete(cb);
  }

  connect() {
    this.#wanted = true;
    if (this.#ws) return;
    this.#clearTimer();
    this.#open();
  }

  disconnect() {
    this.#wanted = false;
    this.#clearTimer();
    const ws = this.#ws;
    this.#ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    this.#delay = this.initialDelay;
    this.#set('disconnected');
  }

  #open() {
    this.#set('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#url);
    } catch (err) {
      console.error('[ws] cannot open', this.#url, err);
      this.#set('disconnected');
      this.#schedule();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#delay = this.initialDelay;
      this.#set('connected');
    };
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      let value: unknown;
      try {
        value = JSON.parse(String(event.data));
      } catch {
        console.warn('[ws] a message that is not JSON, skipped:', event.data);
        return;
      }
      for (const cb of this.#onMessage) cb(value);
    };
    ws.onerror = () => {
      if (this.#ws === ws && ws.readyState <= WebSocket.OPEN) ws.close();
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#set('disconnected');
      this.#schedule();
    };
  }

  #schedule() {
    if (!this.#wanted || this.#timer) return;
    const delay = this.#delay;
    this.#delay = Math.min(this.#delay * 2, this.maxDelay);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#wanted && !this.#ws) this.#open();
    }, delay);
  }

  #clearTimer() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #set(state: WsState) {
    if (state === this.state) return;
    this.state = state;
    for (const cb of this.#onState) cb(state);
  }
}
