#!/usr/bin/env node
// ethereumjs devp2p driver for peerwire interop tests.
//
// stdout: one JSON event per line (nothing else). stdin: one JSON command per line.
// Debug output goes to stderr only (set PEER_DEBUG=1 for driver traces, DEBUG=ethjs,devp2p:* for
// the library's own).
//
// See README.md in this directory for the protocol and the ethereumjs quirks.

import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'

import { DisconnectReasonNames, Peer, RLPx } from '@ethereumjs/devp2p'
import { RLP } from '@ethereumjs/rlp'
import * as snappy from 'snappyjs'

import { isKey, readArgs } from './args.mjs'

// ---------------------------------------------------------------------------------------------
// output

function emit(obj) {
  // process.stdout is synchronous for files and pipes on Linux, so lines are never interleaved
  // or lost on exit.
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

const TRACE = process.env.PEER_DEBUG !== undefined && process.env.PEER_DEBUG !== ''
function debug(...args) {
  if (TRACE) process.stderr.write(`[peer.mjs] ${args.join(' ')}\n`)
}

function fatal(message) {
  emit({ event: 'error', message })
  process.stderr.write(`[peer.mjs] fatal: ${message}\n`)
  process.exit(2)
}

const hex = (bytes) => Buffer.from(bytes).toString('hex')
const sha256Hex = (bytes) => createHash('sha256').update(bytes).digest('hex')
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

function reasonName(reason) {
  if (reason === undefined || reason === null) return null
  return DisconnectReasonNames[reason] ?? `UNKNOWN_${reason}`
}

// ---------------------------------------------------------------------------------------------
// command line

function options() {
  const args = readArgs(
    {
      key: { type: 'string' },
      listen: { type: 'boolean', default: false },
      dial: { type: 'string' },
      caps: { type: 'string', default: 'foo/1' },
      'client-id': { type: 'string' },
      timeout: { type: 'string' },
      'send-on-added': { type: 'string' },
    },
    fatal,
  )
  if (!isKey(args.key)) fatal('--key <64 hex> is required')
  return {
    key: args.key,
    listen: args.listen,
    dial: args.dial ?? null,
    caps: args.caps,
    clientId: args['client-id'] ?? null,
    timeout: args.timeout === undefined ? null : Number(args.timeout),
    sendOnAdded: args['send-on-added'] ?? null,
  }
}

// Message-space lengths of the capabilities we know; anything else (made-up names such as "foo"
// or "zzz") gets 1 unless given explicitly as name/version/length.
const KNOWN_LENGTHS = { foo: 1, eth: 17, snap: 8 }

function parseCaps(spec) {
  const caps = []
  for (const part of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([A-Za-z0-9_-]+)\/(\d+)(?:\/(\d+))?$/.exec(part)
    if (m === null) fatal(`bad capability ${part} (want name/version[/length])`)
    const name = m[1]
    const version = Number(m[2])
    const length = m[3] !== undefined ? Number(m[3]) : (KNOWN_LENGTHS[name] ?? 1)
    caps.push({ name, version, length, constructor: makeCapClass(name) })
  }
  return caps
}

function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@([^:/?]+|\[[^\]]+\]):(\d+)(?:\?.*)?$/.exec(url)
  if (m === null) fatal(`bad enode URL ${url}`)
  return {
    id: Uint8Array.from(Buffer.from(m[1], 'hex')),
    address: m[2].replace(/^\[|\]$/g, ''),
    tcpPort: Number(m[3]),
  }
}

// ---------------------------------------------------------------------------------------------
// sub-protocol objects
//
// ethereumjs instantiates `new constructor(version, peer, send)` for every shared capability when
// the remote Hello arrives, and calls `_handleMessage(code, payload)` with the payload already
// snappy-DEcompressed (if the remote Hello version is >= 5) but not RLP-decoded. Sending is our
// job: compress ourselves when the remote Hello version is >= 5 (exactly what the built-in ETH and
// SNAP classes do), then call `send(code, data)`, which adds the capability offset.
//
// The class name must not be "Peer": ethereumjs RLP-decodes payloads itself for a protocol
// object whose constructor.name === 'Peer' (that is how it recognises the base protocol).

function makeCapClass(capName) {
  const CapProtocol = class {
    constructor(version, peer, send) {
      this.name = capName
      this.version = version
      this._peer = peer
      this._send = send
    }

    sendRaw(code, data) {
      const v = this._peer._hello?.protocolVersion
      const payload = v !== undefined && v >= 5 ? snappy.compress(data) : data
      this._send(code, payload)
    }

    // form 'bare': the RLP string; form 'list': an RLP list of that one string.
    sendText(code, text, form = 'bare') {
      const bytes = Buffer.from(text, 'utf8')
      this.sendRaw(code, RLP.encode(form === 'list' ? [bytes] : bytes))
    }

    _handleMessage(code, payload) {
      // form: 'bare' (an RLP string), 'list' (an RLP list of exactly one string), 'other'
      // (any other list, or not RLP); bytes: the string of 'bare' and 'list'.
      let bytes = null
      let form = 'other'
      try {
        // RLP.decode of zero bytes returns an empty string instead of failing.
        if (payload.length === 0) throw new Error('empty payload')
        const decoded = RLP.decode(payload)
        if (decoded instanceof Uint8Array) {
          bytes = decoded
          form = 'bare'
        } else if (decoded.length === 1 && decoded[0] instanceof Uint8Array) {
          bytes = decoded[0]
          form = 'list'
        }
      } catch {
        // not RLP: report on the raw payload
      }
      let text = null
      if (bytes !== null) {
        try {
          text = utf8Strict.decode(bytes)
        } catch {
          text = null
        }
      }
      emit({
        event: 'message',
        cap: capName,
        code,
        form,
        text,
        len: payload.length,
        sha256: sha256Hex(bytes ?? payload),
      })
      // Answered in the form it came in, like peerwire-foobar and the go-ethereum seed.
      if (capName === 'foo' && code === 0 && text === 'foo') this.sendText(0, 'bar', form)
    }
  }
  Object.defineProperty(CapProtocol, 'name', { value: `Cap_${capName.replace(/\W/g, '_')}` })
  return CapProtocol
}

// ---------------------------------------------------------------------------------------------
// connections that close before the devp2p handshake completes
//
// ethereumjs emits nothing (no peer:added, no peer:removed) for a connection that dies before
// both Hellos were exchanged with at least one shared capability -- e.g. the "no shared
// capability" case, where it sends Disconnect(USELESS_PEER) right after the remote Hello. To make
// that visible we wrap Peer#_onSocketClose (bound per instance in the Peer constructor, so
// patching the prototype before any Peer exists is enough) and report such closes as
// {"event":"connection_closed",...}.

const origOnSocketClose = Peer.prototype._onSocketClose
Peer.prototype._onSocketClose = function () {
  const wasConnected = this._connected
  origOnSocketClose.call(this)
  if (!wasConnected) {
    const id = this._remoteId ?? this._hello?.id ?? null
    emit({
      event: 'connection_closed',
      id: id === null ? null : hex(id),
      hello_received: this._hello !== null,
      reason: this._disconnectReason ?? null,
      reason_name: reasonName(this._disconnectReason),
      by_us: this._disconnectWe,
    })
  }
}

// ---------------------------------------------------------------------------------------------
// main

const opts = options()
const privateKey = Uint8Array.from(Buffer.from(opts.key, 'hex'))
const capabilities = parseCaps(opts.caps)

const rlpxOptions = { capabilities, dpt: null }
if (opts.clientId !== null) rlpxOptions.clientId = Buffer.from(opts.clientId, 'utf8')
if (opts.timeout !== null) rlpxOptions.timeout = opts.timeout
// No `common`: it is only needed by the built-in ETH protocol class (and optionally for custom
// crypto); every capability here uses the CapProtocol class above.

let rlpx
try {
  rlpx = new RLPx(privateKey, rlpxOptions)
} catch (err) {
  fatal(`RLPx: ${err?.message ?? err}`)
}
const ourId = hex(rlpx.id)

const peers = new Map() // hex id -> Peer, in connection order
let exiting = false

rlpx.events.on('peer:added', (peer) => {
  const id = hex(peer.getId())
  peers.set(id, peer)
  const hello = peer.getHelloMessage()
  emit({
    event: 'peer_added',
    id,
    client: hello.clientId,
    protocol_version: hello.protocolVersion,
    caps: peer.getProtocols().map((p) => `${p.name}/${p.version}`),
    remote_caps: hello.capabilities.map((c) => `${c.name}/${c.version}`),
  })
  // --send-on-added: the first foo message goes out in the same tick as the Hello exchange
  // completes, as eager real clients send their Status right behind Hello.
  if (opts.sendOnAdded !== null) {
    const foo = capOf(peer, 'foo')
    if (foo === null) emit({ event: 'error', message: '--send-on-added: foo not shared', id })
    else foo.sendText(0, opts.sendOnAdded)
  }
})

rlpx.events.on('peer:removed', (peer, reason, disconnectWe) => {
  const id = hex(peer.getId())
  peers.delete(id)
  emit({
    event: 'peer_removed',
    id,
    reason: reason ?? null,
    reason_name: reasonName(reason),
    by_us: disconnectWe ?? null,
  })
})

rlpx.events.on('peer:error', (peer, err) => {
  const id = peer.getId()
  emit({
    event: 'error',
    message: String(err?.message ?? err),
    ...(id ? { id: hex(id) } : {}),
  })
})

rlpx.events.on('error', (err) => emit({ event: 'error', message: String(err?.message ?? err) }))

function currentPeer(cmd) {
  if (typeof cmd.id === 'string') return peers.get(cmd.id.toLowerCase()) ?? null
  let last = null
  for (const p of peers.values()) last = p
  return last
}

function capOf(peer, name) {
  return peer.getProtocols().find((p) => p.name === name) ?? null
}

function bigPattern(size, seed, incompressible) {
  const buf = Buffer.allocUnsafe(size)
  if (!incompressible) {
    for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed) & 0xff
  } else {
    // xorshift32, for frames that stay large after snappy (driver extension).
    let x = (seed >>> 0) || 0x9e3779b9
    for (let i = 0; i < size; i++) {
      x ^= x << 13
      x >>>= 0
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      buf[i] = x & 0xff
    }
  }
  return buf
}

function handleCommand(cmd) {
  switch (cmd.cmd) {
    case 'exit':
      shutdown(0)
      return
    case 'send':
    case 'send_raw':
    case 'send_big':
    case 'send_many':
    case 'disconnect':
      break
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`)
  }

  const peer = currentPeer(cmd)
  if (peer === null) throw new Error(`${cmd.cmd}: no connected peer`)

  if (cmd.cmd === 'disconnect') {
    peer.disconnect(Number(cmd.reason ?? 0))
    return
  }

  const capName = cmd.cap ?? 'foo'
  const cap = capOf(peer, capName)
  if (cap === null) throw new Error(`${cmd.cmd}: capability ${capName} not shared with peer`)

  if (cmd.cmd === 'send') {
    const form = cmd.form ?? 'bare'
    if (form !== 'bare' && form !== 'list') throw new Error(`send: form must be "bare" or "list", not ${JSON.stringify(form)}`)
    cap.sendText(Number(cmd.code ?? 0), String(cmd.text ?? ''), form)
  } else if (cmd.cmd === 'send_raw') {
    const hexPayload = String(cmd.hex ?? '')
    if (!/^([0-9a-fA-F]{2})*$/.test(hexPayload)) throw new Error('send_raw: hex must be an even number of hex digits')
    cap.sendRaw(Number(cmd.code ?? 0), Uint8Array.from(Buffer.from(hexPayload, 'hex')))
  } else if (cmd.cmd === 'send_big') {
    const size = Number(cmd.size)
    const seed = Number(cmd.seed ?? 0)
    const data = bigPattern(size, seed, cmd.incompressible === true)
    const digest = sha256Hex(data)
    cap.sendRaw(Number(cmd.code ?? 0), RLP.encode(data))
    emit({ event: 'sent', size, sha256: digest })
  } else if (cmd.cmd === 'send_many') {
    const count = Number(cmd.count)
    const code = Number(cmd.code ?? 0)
    for (let i = 0; i < count; i++) cap.sendText(code, `m${i}`)
    emit({ event: 'sent_many', count })
  }
}

function shutdown(code) {
  if (exiting) return
  exiting = true
  debug('shutting down')
  const sockets = [...peers.values()].map((p) => p._socket)
  try {
    // Sends Disconnect(CLIENT_QUITTING) to every connected peer and closes the server.
    if (rlpx._isAlive()) rlpx.destroy()
  } catch (err) {
    debug('destroy failed:', err?.message ?? err)
  }
  // Give the kernel the Disconnect frames before exiting (bounded: 1 s).
  const deadline = Date.now() + 1000
  const poll = () => {
    const pending = sockets.some((s) => !s.destroyed && s.writableLength > 0)
    if (pending && Date.now() < deadline) {
      setTimeout(poll, 10)
      return
    }
    for (const s of sockets) s.destroy()
    process.exit(code)
  }
  setTimeout(poll, 20)
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim() === '') return
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    emit({ event: 'error', message: `bad command line: ${err.message}` })
    return
  }
  try {
    handleCommand(cmd)
  } catch (err) {
    emit({ event: 'error', message: String(err?.message ?? err) })
  }
})
// stdin closed (the test dropped us): behave like {"cmd":"exit"}.
rl.on('close', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))

function startDial() {
  if (opts.dial === null) return
  const target = parseEnode(opts.dial)
  debug(`dialing ${target.address}:${target.tcpPort}`)
  rlpx.connect(target).catch((err) => {
    emit({ event: 'error', message: `dial failed: ${err?.message ?? err}` })
  })
}

if (opts.listen) {
  rlpx.events.once('listening', () => {
    const port = rlpx._server.address().port
    // The Hello "listen port" field comes from the listenPort option, which we could not know
    // before binding port 0; set it now so the Hello advertises the real port.
    rlpx._listenPort = port
    emit({ event: 'listening', port, id: ourId })
    startDial()
  })
  rlpx.listen(0, '127.0.0.1')
} else {
  emit({ event: 'ready', id: ourId })
  startDial()
}
