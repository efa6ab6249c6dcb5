#!/usr/bin/env node
// @chainsafe/discv5 (11.0.0) driver for peerwire's discv5 interop tests: one discv5 node on
// 127.0.0.x. stdout: one JSON event per line (nothing else); stdin: one JSON command per line.
// See README.md in this directory.

import { createSocket } from 'node:dgram'
import { createInterface } from 'node:readline'

import { Discv5 } from '@chainsafe/discv5'
import { ENR, SignableENR } from '@chainsafe/enr'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'

import { isKey, readArgs } from './args.mjs'

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`)
}

function fatal(message) {
  emit({ event: 'error', message })
  process.stderr.write(`[discv5.mjs] fatal: ${message}\n`)
  process.exit(2)
}

function options() {
  const args = readArgs(
    {
      key: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      bootnode: { type: 'string', multiple: true, default: [] },
      tcp: { type: 'string' },
    },
    fatal,
  )
  if (!isKey(args.key)) fatal('--key <64 hex> is required')
  return {
    key: args.key,
    host: args.host,
    bootnodes: args.bootnode,
    tcp: args.tcp === undefined ? null : Number(args.tcp),
  }
}

// A free UDP port on `host`: bind port 0, read it, close (the test machine is otherwise idle
// on 127.0.0.x, so nobody takes it in between).
function freePort(host) {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', reject)
    s.bind(0, host, () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

const describe = (enr) => ({
  id: enr.nodeId,
  enr: enr.encodeTxt(),
  seq: enr.seq,
  ip: enr.ip ?? null,
  udp: enr.udp ?? null,
  tcp: enr.tcp ?? null,
})

const opts = options()
const privateKey = privateKeyFromRaw(Buffer.from(opts.key, 'hex'))
const port = await freePort(opts.host)
const enr = SignableENR.createFromPrivateKey(privateKey)
enr.ip = opts.host
enr.udp = port
if (opts.tcp !== null) enr.tcp = opts.tcp
const discv5 = Discv5.create({
  enr,
  privateKey,
  bindAddrs: { ip4: multiaddr(`/ip4/${opts.host}/udp/${port}`) },
  // The record changes only when a command says so, so that tests can assert its seq.
  config: { enrUpdate: false },
})
discv5.on('discovered', (found) => emit({ event: 'discovered', node: describe(found) }))
await discv5.start()
for (const boot of opts.bootnodes) discv5.addEnr(boot)
emit({ event: 'listening', port, ...describe(discv5.enr.toENR()) })

async function run(cmd) {
  switch (cmd.cmd) {
    case 'lookup': {
      const found = await discv5.findRandomNode()
      emit({ event: 'lookup', nodes: found.map(describe) })
      break
    }
    case 'table':
      emit({ event: 'table', nodes: discv5.kadValues().map(describe) })
      break
    case 'add_enr':
      discv5.addEnr(cmd.enr)
      emit({ event: 'added' })
      break
    case 'request_enr': {
      // FINDNODE at distance 0: the node's current record.
      const nodes = await discv5.sendFindNode(ENR.decodeTxt(cmd.enr), [0])
      emit({ event: 'enr', nodes: nodes.map(describe) })
      break
    }
    case 'set_tcp':
      // The setter re-signs with seq + 1.
      discv5.enr.tcp = cmd.tcp
      emit({ event: 'local', ...describe(discv5.enr.toENR()) })
      break
    case 'exit':
      await discv5.stop()
      process.exit(0)
      break
    default:
      emit({ event: 'error', message: `unknown command ${cmd.cmd}` })
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (e) {
    emit({ event: 'error', message: `bad command ${line}: ${e}` })
    return
  }
  run(cmd).catch((e) => emit({ event: 'failed', cmd: cmd.cmd, message: String(e) }))
})
lines.on('close', () => {
  discv5.stop().finally(() => process.exit(0))
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0))
}
