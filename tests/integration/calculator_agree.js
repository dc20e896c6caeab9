// Runs the calculator page's own script (out of calculator.html) on the page's own data for
// every load on standard input ("NODES PODS CHURN TOPOLOGY", topology "-" for any) and prints
// one line per load, in the form test_report_browser.sh prints from `turbokube calculator
// --output json`, so the two can be compared line for line:
//   NODES PODS CHURN TOPOLOGY -> found SIZE TOPOLOGY KIND MUTATING_P99 PEAK_MEMORY | none
'use strict';
const fs = require('fs');

const html = fs.readFileSync(process.argv[2], 'utf8');
const unescape = (s) => s.replace(/<\\\//g, '</');
const data = JSON.parse(unescape(
  html.match(/<script type="application\/json" id="tk-data">([\s\S]*?)<\/script>/)[1]));
const script = unescape(html.match(/<script>\n([\s\S]*?)<\/script>/)[1]);
const m = { exports: null };
new Function('module', script)(m); // no document here: only the rule is defined
const TK = m.exports;

const fmt = (v) => (v === null || Number.isNaN(v) ? '-' : Number(v).toPrecision(6));
for (const line of fs.readFileSync(0, 'utf8').trim().split('\n')) {
  const [nodes, pods, churn, topo] = line.trim().split(/\s+/);
  const r = TK.recommend(data, { nodes: Number(nodes), pods: Number(pods), churn: Number(churn) },
                         topo === '-' ? '' : topo);
  if (!r.found) {
    console.log(`${line} -> none`);
    continue;
  }
  const p = r.preds[r.chosen], sz = data.sizes[p.size];
  console.log(`${line} -> found ${sz.size} ${sz.topology} ${TK.KINDS[p.overall]} ` +
              `${fmt(p.value[0])} ${fmt(p.value[4])}`);
}
