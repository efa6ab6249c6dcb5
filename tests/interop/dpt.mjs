#!/usr/bin/env node
// ethereumjs discovery (DPT, discv4) driver for peerwire interop tests, optionally with an
// ethereumjs RLPx listener on the same key.
//
// stdout: one JSON event per line (nothing else). stdin: one JSON command per line.
// See README.md in this directory.

import { createInterface } from 'node:readline'

import { DPT, RLPx } from '@ethereumjs/devp2p'

import { isKey, readArgs } from './args.mjs'

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

function fatal(message) {
  emit({ event: 'error', message })
  process.stderr.write(`[dpt.mjs] fatal: ${message}\n`)
  process.exit(2)
}

const hex = (bytes) => Buffer.from(bytes).toString('hex')

function options() {
  const args = readArgs(
    {
      key: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      refresh: { type: 'string', default: '1000' },
      bootnode: { type: 'string', multiple: true, default: [] },
      rlpx: { type: 'string' },
    },
    fatal,
  )
  if (!isKey(args.key)) fatal('--key <64 hex> is required')
  return {
    key: args.key,
    host: args.host,
    refresh: Number(args.refresh),
    bootnodes: args.bootnode,
    caps: args.rlpx ?? null,
  }
}

// enode://<id>@<ip>:<tcp>[?discport=<udp>] -> the peer object DPT takes.
function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@([0-9.]+):(\d+)(?:\?discport=(\d+))?$/.exec(url)
  if (m === null) fatal(`bad enode URL ${url}`)
  const tcpPort = Number(m[3])
  return {
    id: Uint8Array.from(Buffer.from(m[1], 'hex')),
    address: m[2],
    tcpPort,
    udpPort: m[4] !== undefined ? Number(m[4]) : tcpPort,
  }
}

const describe = (peer) => ({
  id: peer.id ? hex(peer.id) : null,
  address: peer.address,
  udp_port: peer.udpPort ?? null,
  tcp_port: peer.tcpPort ?? null,
})

// A capability class that accepts every message and sends nothing: enough for the Hello
// exchange to find a shared capability (see peer.mjs for a reporting one).
function makeCapClass(name) {
  const Cap = class {
    constructor(version, peer, send) {
      this.name = name
      this.version = version
      this._peer = peer
      this._send = send
    }
    _handleMessage() {}
  }
  Object.defineProperty(Cap, 'name', { value: `Cap_${name.replace(/\W/g, '_')}` })
  return Cap
}

function parseCaps(spec) {
  return spec.split(',').map((part) => {
    const m = /^([A-Za-z0-9_-]+)\/(\d+)$/.exec(part.trim())
    if (m === null) fatal(`bad capability ${part} (want name/version)`)
    return { name: m[1], version: Number(m[2]), length: 1, constructor: makeCapClass(m[1]) }
  })
}

const opts = options()
const privateKey = Uint8Array.from(Buffer.from(opts.key, 'hex'))

let rlpx = null
async function startRlpx() {
  if (opts.caps === null) return null
  // `dpt: null`: this node never dials what discovery finds, so a session with peerwire can
  // only come from peerwire's own dial.
  rlpx = new RLPx(privateKey, { capabilities: parseCaps(opts.caps), dpt: null })
  rlpx.events.on('peer:added', (peer) => {
    emit({ event: 'rlpx_peer_added', id: hex(peer.getId()), caps: peer.getProtocols().map((p) => `${p.name}/${p.version}`) })
  })
  rlpx.events.on('peer:error', (peer, err) => emit({ event: 'rlpx_error', message: String(err?.message ?? err) }))
  rlpx.events.on('error', (err) => emit({ event: 'rlpx_error', message: String(err?.message ?? err) }))
  await new Promise((resolve) => {
    rlpx.events.once('listening', resolve)
    rlpx.listen(0, opts.host)
  })
  const port = rlpx._server.address().port
  rlpx._listenPort = port
  return port
}

const tcpPort = await startRlpx()

// refreshInterval: DPT sends FindNode (random target) to every table entry once per interval,
// spread over ten slots.
const dpt = new DPT(privateKey, {
  refreshInterval: opts.refresh,
  endpoint: { address: opts.host, udpPort: null, tcpPort },
  shouldFindNeighbours: true,
})
dpt.events.on('peer:added', (peer) => emit({ event: 'peer_added', ...describe(peer) }))
dpt.events.on('peer:removed', (peer) => emit({ event: 'peer_removed', ...describe(peer) }))
// Failed pings, undecodable packets (such as EIP-868 ENRRequest, which DPT does not know):
// reported, not fatal, so a test can check that they happen.
dpt.events.on('error', (err) => emit({ event: 'dpt_error', message: String(err?.message ?? err) }))

await new Promise((resolve) => {
  dpt.events.once('listening', resolve)
  dpt.bind(0, opts.host)
})
const udpPort = dpt._server._socket.address().port
// The Ping `from` endpoint: DPT sends what it was given, which could not include port 0's
// replacement before binding.
dpt._server._endpoint = { address: opts.host, udpPort, tcpPort: tcpPort ?? udpPort }
emit({ event: 'listening', id: hex(dpt.id), address: opts.host, udp_port: udpPort, tcp_port: tcpPort ?? udpPort })

for (const url of opts.bootnodes) dpt.bootstrap(parseEnode(url))

let exiting = false
function shutdown(code) {
  if (exiting) return
  exiting = true
  try {
    dpt.destroy()
  } catch {}
  try {
    if (rlpx !== null && rlpx._isAlive()) rlpx.destroy()
  } catch {}
  setTimeout(() => process.exit(code), 50)
}

function handleCommand(cmd) {
  switch (cmd.cmd) {
    case 'exit':
      shutdown(0)
      return
    case 'bootstrap':
      dpt.bootstrap(parseEnode(String(cmd.enode)))
      return
    case 'peers':
      emit({ event: 'peers', peers: dpt.getPeers().map(describe) })
      return
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`)
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim() === '') return
  try {
    handleCommand(JSON.parse(line))
  } catch (err) {
    emit({ event: 'error', message: String(err?.message ?? err) })
  }
})
rl.on('close', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))
