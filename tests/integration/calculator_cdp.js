// Types into the calculator page in a running headless Chromium through the DevTools protocol
// and prints what the page recommends before and after, for test_report_browser.sh.
//   node --experimental-websocket calculator_cdp.js USER_DATA_DIR NODES PODS SCREENSHOT.png
// Chromium must have been started with --remote-debugging-port=0 --user-data-dir=USER_DATA_DIR
// on the calculator page; the port is read from USER_DATA_DIR/DevToolsActivePort. Output, one
// JSON line each: {"when":"loaded",...} and {"when":"typed",...} with found, size, topology,
// kind as the page's #result carries them. Loopback only.
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, nodes, pods, shot] = process.argv.slice(2);
const deadline = Date.now() + 60000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function port() {
  const f = path.join(dir, 'DevToolsActivePort');
  while (Date.now() < deadline) {
    try {
      const p = fs.readFileSync(f, 'utf8').split('\n')[0].trim();
      if (p) return p;
    } catch (e) { /* not yet written */ }
    await sleep(100);
  }
  throw new Error('no DevToolsActivePort in ' + dir);
}

async function pageSocket(p) {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${p}/json/list`);
      const list = await res.json();
      const page = list.find((t) => t.type === 'page' && t.url.startsWith('file:'));
      if (page) return page.webSocketDebuggerUrl;
    } catch (e) { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error('no calculator page target');
}

function client(url) {
  const ws = new WebSocket(url);
  let id = 0;
  const waiting = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    }
  };
  const opened = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const n = ++id;
    waiting.set(n, { resolve, reject });
    ws.send(JSON.stringify({ id: n, method, params }));
  });
  return { opened, send, close: () => ws.close() };
}

async function state(c) {
  const r = await c.send('Runtime.evaluate', {
    expression: `(function () { var e = document.getElementById('result');
      return JSON.stringify({ found: e.getAttribute('data-found'), size: e.getAttribute('data-size'),
        topology: e.getAttribute('data-topology'), kind: e.getAttribute('data-kind'),
        evidence: document.querySelectorAll('#evidence li').length }); })()`,
    returnByValue: true,
  });
  if (r.exceptionDetails || typeof r.result.value !== "string")
    throw new Error("evaluate: " + JSON.stringify(r.exceptionDetails || r.result));
  return JSON.parse(r.result.value);
}

// Clears an input and types text into it as keyboard input (focus, select all, insertText).
async function type(c, id, text) {
  await c.send('Runtime.evaluate', {
    expression: `(function () { var e = document.getElementById('${id}'); e.focus(); e.select(); })()`,
  });
  await c.send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Backspace', code: 'Backspace',
                                           windowsVirtualKeyCode: 8 });
  await c.send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Backspace', code: 'Backspace',
                                           windowsVirtualKeyCode: 8 });
  await c.send('Input.insertText', { text });
}

(async () => {
  const c = client(await pageSocket(await port()));
  await c.opened;
  await c.send('Runtime.enable');
  // the page renders on load; wait until it has
  let s;
  while (Date.now() < deadline) {
    try {
      s = await state(c);
      if (s.found) break;
    } catch (e) { /* still loading: no #result yet */ }
    await sleep(100);
  }
  console.log(JSON.stringify({ when: 'loaded', ...s }));
  await type(c, 'nodes', nodes);
  await type(c, 'pods', pods);
  s = await state(c);
  console.log(JSON.stringify({ when: 'typed', ...s }));
  const png = await c.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
  fs.writeFileSync(shot, Buffer.from(png.data, 'base64'));
  try { await c.send('Browser.close'); } catch (e) { /* the page target may not allow it */ }
  c.close();
  process.exit(0);
})().catch((e) => { console.error('calculator_cdp: ' + e.message); process.exit(1); });
