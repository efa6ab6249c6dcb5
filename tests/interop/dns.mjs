#!/usr/bin/env node
// ethereumjs DNS discovery (EIP-1459) driver for peerwire interop tests: resolves an
// enrtree:// list through one DNS server and prints the peers it found.
//
// Args: --server IP:PORT --url enrtree://KEY@DOMAIN --want N [--searches M] (and --key, unused).
// stdout: one JSON line, {"event":"peers","peers":[{"address","tcpPort","udpPort"}],"searches":k}.
//
// ethereumjs's DNS client descends the tree along one random branch per search and returns
// one leaf, so the driver searches until it has `want` distinct peers or `searches` ran out.

import { DNS } from '@ethereumjs/devp2p'

import { readArgs } from './args.mjs'

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

function fatal(message) {
  emit({ event: 'error', message })
  process.stderr.write(`[dns.mjs] fatal: ${message}\n`)
  process.exit(2)
}

const args = readArgs(
  {
    key: { type: 'string' },
    server: { type: 'string' },
    url: { type: 'string' },
    want: { type: 'string', default: '0' },
    searches: { type: 'string', default: '5000' },
  },
  fatal,
)
const opts = {
  server: args.server ?? null,
  url: args.url ?? null,
  want: Number(args.want),
  searches: Number(args.searches),
}
if (!opts.server || !opts.url) fatal('--server and --url are required')

const dns = new DNS({ dnsServerAddress: opts.server })
const found = new Map()
let searches = 0
while (found.size < opts.want && searches < opts.searches) {
  searches++
  for (const peer of await dns.getPeers(1, [opts.url])) {
    found.set(`${peer.address}:${peer.tcpPort}:${peer.udpPort}`, peer)
  }
}
emit({ event: 'peers', peers: [...found.values()], searches })
