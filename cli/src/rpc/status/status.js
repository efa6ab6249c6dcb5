// The status page's script: polls the node's JSON-RPC once a second and redraws.
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // samples kept for the chart
const token = new URLSearchParams(location.hash.slice(1)).get("token");
let nextId = 1;
const samples = []; // { t, ingress, egress } totals over all peers
const $ = (id) => document.getElementById(id);

async function call(method, params = []) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const rp = await fetch("/", {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
  });
  if (!rp.ok) throw new Error("HTTP " + rp.status);
  const body = await rp.json();
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

function cell(row, text, cls, title) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (title) td.title = title;
  return td;
}

function drawPeers(peers) {
  const body = $("peers");
  body.replaceChildren();
  if (!peers.length) {
    cell(body.insertRow(), "no peers yet").colSpan = 8;
    return;
  }
  for (const p of peers) {
    const row = body.insertRow();
    row.dataset.id = p.nodeId;
    row.className = "peer";
    cell(row, p.nodeId.slice(0, 16) + "…", "mono", p.nodeId);
    cell(row, p.network.remoteAddress, "mono");
    cell(row, p.network.inbound ? "inbound" : "outbound");
    cell(row, p.name);
    cell(row, p.caps.join(", "));
    cell(row, bytes(p.traffic.ingress), "num");
    cell(row, bytes(p.traffic.egress), "num");
    cell(row, duration(p.connectedSecs), "num");
  }
}

function drawChart() {
  const canvas = $("chart");
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  const rates = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    const dt = Math.max((b.t - a.t) / 1000, 0.001);
    // A peer that left takes its counters with it: never draw a negative rate.
    rates.push({
      ingress: Math.max(b.ingress - a.ingress, 0) / dt,
      egress: Math.max(b.egress - a.egress, 0) / dt,
    });
  }
  const last = rates[rates.length - 1] || { ingress: 0, egress: 0 };
  $("rate-in").textContent = bytes(Math.round(last.ingress)) + "/s";
  $("rate-out").textContent = bytes(Math.round(last.egress)) + "/s";
  const top = Math.max(1024, ...rates.map((r) => Math.max(r.ingress, r.egress))) * 1.1;
  g.fillStyle = "#5a6372";
  g.font = "11px system-ui";
  g.fillText(bytes(Math.round(top)) + "/s", 4, 12);
  for (const [key, color] of [["ingress", "#1f6feb"], ["egress", "#d9730d"]]) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    rates.forEach((r, i) => {
      const x = w - (rates.length - 1 - i) * (w / (HISTORY - 1));
      const y = h - (r[key] / top) * (h - 16);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
}

async function refresh() {
  try {
    const [node, peers] = await Promise.all([call("admin_nodeInfo"), call("admin_peers")]);
    let table = "off";
    try {
      table = (await call("peerwire_discoveryTable")).length + " nodes in the table";
    } catch (_) { /* discovery off */ }
    $("name").textContent = node.name;
    $("id").textContent = node.enode.slice(8, 136);
    $("enode").textContent = node.enode;
    $("listen").textContent = node.listenAddr || "not listening";
    $("discovery").textContent = table;
    $("count").textContent = String(peers.length);
    drawPeers(peers);
    samples.push({
      t: Date.now(),
      ingress: peers.reduce((s, p) => s + p.traffic.ingress, 0),
      egress: peers.reduce((s, p) => s + p.traffic.egress, 0),
    });
    if (samples.length > HISTORY) samples.shift();
    drawChart();
    $("state").textContent = "live · " + new Date().toLocaleTimeString();
    $("state").className = "";
  } catch (e) {
    $("state").textContent = "not reachable: " + e.message;
    $("state").className = "bad";
  }
  setTimeout(refresh, POLL_MS);
}

refresh();
