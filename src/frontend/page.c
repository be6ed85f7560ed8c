/*
 * page.c: the page template and its two locales.
 *
 * The template is plain HTML with {{key}} placeholders: {{t.KEY}} are the
 * locale's strings, the rest are computed per request. Every value is HTML
 * escaped here except the blocks this file builds itself and the JSON
 * config, which is escaped for a <script> element instead.
 */
#include "frontend/page.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "frontend/assets.h"

typedef struct str_entry {
  const char *key;
  const char *en;
  const char *de;
} str_entry_t;

static const str_entry_t strings[] = {
    {"title", "duro: WebSocket Countdown Demo", "duro: WebSocket-Countdown-Demo"},
    {"card_title", "WebSocket Countdown Demo", "WebSocket-Countdown-Demo"},
    {"description",
     "Start a countdown: a Durable Object sends 11 messages, 10 down to 0, "
     "one second apart, to every connected browser.",
     "Starte einen Countdown: ein Durable Object sendet 11 Nachrichten, von "
     "10 bis 0, im Sekundentakt an jeden verbundenen Browser."},
    {"start_countdown", "Start Countdown", "Countdown starten"},
    {"latest_count", "Latest count", "Letzter Zählerstand"},
    {"messages_received", "Messages received", "Empfangene Nachrichten"},
    {"clear", "Clear", "Leeren"},
    {"no_messages", "No messages yet", "Noch keine Nachrichten"},
    {"connected", "Connected", "Verbunden"},
    {"connecting", "Connecting...", "Verbinde..."},
    {"disconnected", "Disconnected", "Getrennt"},
    {"noscript",
     "JavaScript is off: the button still starts a countdown, but live "
     "messages need JavaScript.",
     "JavaScript ist aus: der Knopf startet trotzdem einen Countdown, aber "
     "Live-Nachrichten brauchen JavaScript."},
    {"count_line", "Count: {count} (at {time})", "Zähler: {count} (um {time})"},
    {"start_failed", "Could not start the countdown (HTTP {status})",
     "Countdown konnte nicht gestartet werden (HTTP {status})"},
    {"network_error", "Network error: the countdown was not started",
     "Netzwerkfehler: der Countdown wurde nicht gestartet"},
    {"backend_error", "The backend is unavailable",
     "Das Backend ist nicht erreichbar"},
    {"started", "Countdown started.", "Countdown gestartet."},
};

const char *duro_page_string(duro_locale_t l, const char *key) {
  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
    if (strcmp(strings[i].key, key) == 0)
      return l == DURO_LOCALE_DE ? strings[i].de : strings[i].en;
  return NULL;
}

void duro_html_escape(duro_buf_t *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': duro_buf_append_str(out, "&amp;"); break;
    case '<': duro_buf_append_str(out, "&lt;"); break;
    case '>': duro_buf_append_str(out, "&gt;"); break;
    case '"': duro_buf_append_str(out, "&quot;"); break;
    case '\'': duro_buf_append_str(out, "&#39;"); break;
    default: duro_buf_append(out, s, 1);
    }
  }
}

/* JSON for a <script type="application/json"> element: '<' can never
 * close the element. */
static void append_script_json(duro_buf_t *out, const duro_page_args_t *a) {
  cJSON *cfg = cJSON_CreateObject();
  cJSON_AddStringToObject(cfg, "mode", a->mode);
  cJSON_AddNumberToObject(cfg, "backendPort", a->backend_port);
  if (a->ws_host)
    cJSON_AddStringToObject(cfg, "wsHost", a->ws_host);
  else
    cJSON_AddNullToObject(cfg, "wsHost");
  if (a->ws_path)
    cJSON_AddStringToObject(cfg, "wsPath", a->ws_path);
  else
    cJSON_AddNullToObject(cfg, "wsPath");
  cJSON_AddStringToObject(cfg, "locale",
                          a->locale == DURO_LOCALE_DE ? "de" : "en");
  cJSON *s = cJSON_AddObjectToObject(cfg, "strings");
  static const char *js[][2] = {
      {"connected", "connected"},     {"connecting", "connecting"},
      {"disconnected", "disconnected"}, {"countLine", "count_line"},
      {"startFailed", "start_failed"}, {"networkError", "network_error"},
      {"noMessages", "no_messages"},
  };
  for (size_t i = 0; i < sizeof(js) / sizeof(js[0]); i++)
    cJSON_AddStringToObject(s, js[i][0], duro_page_string(a->locale, js[i][1]));
  char *text = cJSON_PrintUnformatted(cfg);
  cJSON_Delete(cfg);
  for (const char *p = text; *p; p++) {
    if (*p == '<')
      duro_buf_append_str(out, "\\u003c");
    else
      duro_buf_append(out, p, 1);
  }
  cJSON_free(text);
}

static void append_value(duro_buf_t *out, const char *key, size_t klen,
                         const duro_page_args_t *a) {
  char name[64];
  if (klen >= sizeof(name))
    return;
  memcpy(name, key, klen);
  name[klen] = '\0';
  if (strncmp(name, "t.", 2) == 0) {
    const char *v = duro_page_string(a->locale, name + 2);
    if (v)
      duro_html_escape(out, v);
    else
      duro_log_warn("page template: no string '%s'", name + 2);
  } else if (strcmp(name, "lang") == 0) {
    duro_buf_append_str(out, a->locale == DURO_LOCALE_DE ? "de" : "en");
  } else if (strcmp(name, "title") == 0) {
    duro_html_escape(out, duro_page_string(a->locale, "title"));
  } else if (strcmp(name, "form_action") == 0) {
    duro_buf_append_str(out, "?/countdown");
  } else if (strcmp(name, "heading_block") == 0) {
    if (a->error) {
      duro_buf_append_str(out,
                          "<p id=\"backend-error\" class=\"error\" "
                          "role=\"alert\">");
      duro_html_escape(out, duro_page_string(a->locale, "backend_error"));
      duro_buf_append_str(out, ": ");
      duro_html_escape(out, a->error);
      duro_buf_append_str(out, "</p>");
    } else {
      duro_buf_append_str(out, "<h1 id=\"heading\">");
      duro_html_escape(out, a->heading ? a->heading : "");
      duro_buf_append_str(out, "</h1>");
    }
  } else if (strcmp(name, "notice_block") == 0) {
    if (a->notice) {
      duro_buf_append_str(out, "<p id=\"notice\" class=\"notice\" "
                               "role=\"status\">");
      duro_html_escape(out, a->notice);
      duro_buf_append_str(out, "</p>");
    }
  } else if (strcmp(name, "config_json") == 0) {
    append_script_json(out, a);
  } else {
    duro_log_warn("page template: unknown placeholder '%s'", name);
  }
}

int duro_page_render(duro_buf_t *out, const duro_page_args_t *a) {
  const duro_asset_t *t = duro_asset_find(duro_assets, duro_assets_count, "/index.html", 11);
  if (!t)
    return DURO_ENOENT;
  const char *p = (const char *)t->data;
  const char *end = p + t->len;
  while (p < end) {
    const char *open = memmem(p, (size_t)(end - p), "{{", 2);
    if (!open) {
      duro_buf_append(out, p, (size_t)(end - p));
      break;
    }
    duro_buf_append(out, p, (size_t)(open - p));
    const char *close = memmem(open + 2, (size_t)(end - open - 2), "}}", 2);
    if (!close) {
      duro_buf_append(out, open, (size_t)(end - open));
      break;
    }
    append_value(out, open + 2, (size_t)(close - open - 2), a);
    p = close + 2;
  }
  return 0;
}
