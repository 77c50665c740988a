/**
 * The browser console, served by the api at /console/{vmId}: a static page and
 * one ES module. Kept here as text (not loose files) so the webpack bundle of
 * the api carries them; no inline script, so helmet's `script-src 'self'` holds.
 *
 * The script takes an access token from a `#token=` fragment (never sent to a
 * server; removed from the address bar at once) or from sessionStorage
 * `limen.accessToken`, asks for a ticket and opens the WebSocket with noVNC (vnc)
 * or xterm.js (serial). `?type=serial` picks the serial console.
 */
export const CONSOLE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>LIMEN console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/xterm/css/xterm.css">
<link rel="stylesheet" href="assets/console.css">
<script type="module" src="assets/console.js"></script>
</head>
<body data-state="starting">
<header>
  <strong>LIMEN</strong>
  <span id="vm"></span>
  <nav><a id="vnc-link" href="?type=vnc">VNC</a> <a id="serial-link" href="?type=serial">Serial</a></nav>
  <button id="reconnect" type="button" hidden>Reconnect</button>
  <span id="status" role="status">starting</span>
</header>
<main id="screen"></main>
</body>
</html>
`;

export const CONSOLE_PAGE_CSS = `html, body { margin: 0; height: 100%; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
body { display: flex; flex-direction: column; }
header { display: flex; gap: 1em; align-items: center; padding: 0.4em 0.8em; background: #222; border-bottom: 1px solid #333; }
header a { color: #9cf; }
header a[aria-current] { color: #fff; font-weight: bold; text-decoration: none; }
#status { margin-left: auto; }
body[data-state="error"] #status { color: #f88; }
main { flex: 1; min-height: 0; overflow: auto; }
`;

export const CONSOLE_PAGE_SCRIPT = `import RFB from './novnc/core/rfb.js';
import { Terminal } from './xterm/lib/xterm.mjs';

const TOKEN_KEY = 'limen.accessToken';
const vmId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
const type = new URLSearchParams(location.search).get('type') === 'serial' ? 'serial' : 'vnc';
const screen = document.getElementById('screen');
const status = document.getElementById('status');
const reconnect = document.getElementById('reconnect');

function show(state, text) {
  document.body.dataset.state = state;
  status.textContent = text;
  reconnect.hidden = state !== 'closed' && state !== 'error';
}

/** A token in the fragment wins and moves to sessionStorage; the fragment is wiped from history. */
function accessToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get('token');
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function requestTicket(token) {
  const res = await fetch(new URL('../api/v1/vms/' + encodeURIComponent(vmId) + '/console', location.href), {
    method: 'POST',
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: JSON.stringify({ type }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || 'HTTP ' + res.status);
  return body;
}

function socketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

function openVnc(url) {
  const rfb = new RFB(screen, url, { shared: true });
  rfb.scaleViewport = true;
  rfb.background = '#111';
  rfb.addEventListener('connect', () => show('connected', 'connected (VNC)'));
  rfb.addEventListener('disconnect', (e) => show('closed', e.detail.clean ? 'disconnected' : 'connection lost'));
  rfb.addEventListener('securityfailure', (e) => show('error', 'VNC security failure: ' + (e.detail.reason || e.detail.status)));
  rfb.focus();
}

function openSerial(url) {
  const term = new Terminal({ cursorBlink: true, scrollback: 5000 });
  term.open(screen);
  const socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  socket.addEventListener('open', () => {
    show('connected', 'connected (serial)');
    term.focus();
  });
  socket.addEventListener('message', (e) => term.write(new Uint8Array(e.data)));
  socket.addEventListener('close', (e) => show('closed', 'disconnected' + (e.reason ? ': ' + e.reason : '')));
  term.onData((data) => socket.readyState === WebSocket.OPEN && socket.send(encoder.encode(data)));
}

async function start() {
  screen.replaceChildren();
  document.getElementById('vm').textContent = vmId;
  document.getElementById(type + '-link').setAttribute('aria-current', 'page');
  const token = accessToken();
  if (!token) return show('error', 'no access token: open this page with #token=<access token>, or sign in first');
  show('connecting', 'connecting');
  try {
    const ticket = await requestTicket(token);
    (type === 'serial' ? openSerial : openVnc)(socketUrl(ticket.url));
  } catch (error) {
    show('error', error.message);
  }
}

reconnect.addEventListener('click', start);
start();
`;
