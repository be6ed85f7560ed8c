// The page's strings in English (the base) and German, chosen by URL
// prefix: / and /de.
export type Locale = 'en' | 'de';

const en = {
  title: 'duro: WebSocket Countdown Demo',
  cardTitle: 'WebSocket Countdown Demo',
  description:
    'Start a countdown: a Durable Object sends 11 messages, 10 down to 0, one second apart, to every connected browser.',
  startCountdown: 'Start Countdown',
  latestCount: 'Latest count',
  messagesReceived: 'Messages received',
  clear: 'Clear',
  noMessages: 'No messages yet',
  connected: 'Connected',
  connecting: 'Connecting...',
  disconnected: 'Disconnected',
  countLine: 'Count: {count} (at {time})',
  startFailed: 'Could not start the countdown (HTTP {status})',
  backendError: 'The backend is unavailable',
  started: 'Countdown started.',
};

const de: typeof en = {
  title: 'duro: WebSocket-Countdown-Demo',
  cardTitle: 'WebSocket-Countdown-Demo',
  description:
    'Starte einen Countdown: ein Durable Object sendet 11 Nachrichten, von 10 bis 0, im Sekundentakt an jeden verbundenen Browser.',
  startCountdown: 'Countdown starten',
  latestCount: 'Letzter Zählerstand',
  messagesReceived: 'Empfangene Nachrichten',
  clear: 'Leeren',
  noMessages: 'Noch keine Nachrichten',
  connected: 'Verbunden',
  connecting: 'Verbinde...',
  disconnected: 'Getrennt',
  countLine: 'Zähler: {count} (um {time})',
  startFailed: 'Countdown konnte nicht gestartet werden (HTTP {status})',
  backendError: 'Das Backend ist nicht erreichbar',
  started: 'Countdown gestartet.',
};

export type Strings = typeof en;

export const strings = (locale: Locale): Strings => (locale === 'de' ? de : en);

export const format = (template: string, values: Record<string, string | number>) =>
  template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
