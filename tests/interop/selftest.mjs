#!/usr/bin/env node
// Self-test of peer.mjs: two ethereumjs drivers talk to each other on 127.0.0.1.
// No peerwire involved; it checks the driver itself (events, commands, big and many messages,
// disconnect reasons, no-shared-capability). Bounded: every wait has a timeout and the whole run
// aborts after 180 s. Usage: node selftest.mjs   (prints "N passed, N failed" at the end)

import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const children = new Set()
let passed = 0
let failed = 0
let nonJsonLines = 0

setTimeout(() => {
  console.log('selftest: global timeout')
  finish(1)
}, 180_000).unref()

function finish(code) {
  for (const c of children) c.kill('SIGKILL')
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(code !== 0 || failed > 0 ? 1 : 0)
}

function check(name, cond, detail = '') {
  if (cond) {
    passed++
    console.log(`ok   ${name}`)
  } else {
    failed++
    console.log(`FAIL ${name} ${detail}`)
  }
}

class Driver {
  constructor(label, args) {
    this.label = label
    this.events = []
    this.waiters = []
    this.proc = spawn(process.execPath, [join(here, 'peer.mjs'), ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    children.add(this.proc)
    this.exit = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        children.delete(this.proc)
        resolve(code)
      }),
    )
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let ev
      try {
        ev = JSON.parse(line)
      } catch {
        ev = { event: 'NON_JSON', line }
        nonJsonLines++
      }
      if (ev.event !== 'message') console.log(`  ${label} <- ${line.slice(0, 300)}`)
      this.events.push(ev)
      this.waiters = this.waiters.filter((w) => !w())
    })
  }

  send(cmd) {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`)
  }

  // Wait until pred(events) returns a truthy value; returns it.
  wait(pred, ms = 20_000, what = 'event') {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.label}: timeout waiting for ${what}`)), ms)
      const w = () => {
        const r = pred(this.events)
        if (r) {
          clearTimeout(t)
          resolve(r)
          return true
        }
        return false
      }
      if (!w()) this.waiters.push(w)
    })
  }

  waitEvent(name, ms, filter = () => true) {
    return this.wait((evs) => evs.find((e) => e.event === name && filter(e)), ms, name)
  }

  messages() {
    return this.events.filter((e) => e.event === 'message')
  }

  clearMessages() {
    this.events = this.events.filter((e) => e.event !== 'message')
  }
}

const key = () => randomBytes(32).toString('hex')

async function pair(capsA, capsB) {
  const a = new Driver('A', ['--key', key(), '--listen', '--caps', capsA])
  const l = await a.waitEvent('listening', 10_000)
  const b = new Driver('B', ['--key', key(), '--dial', `enode://${l.id}@127.0.0.1:${l.port}`, '--caps', capsB])
  const r = await b.waitEvent('ready', 10_000)
  return { a, b, idA: l.id, idB: r.id }
}

async function bigTransfer(from, to, size, seed, extra = {}) {
  to.clearMessages()
  const t0 = Date.now()
  from.send({ cmd: 'send_big', cap: 'foo', size, seed, ...extra })
  const sent = await from.waitEvent('sent', 30_000, (e) => e.size === size && !e.seen)
  sent.seen = true
  const got = await to.wait((evs) => evs.find((e) => e.event === 'message'), 60_000, 'big message')
  const label = `${from.label}->${to.label} ${size} bytes${extra.incompressible ? ' (incompressible)' : ''}`
  const want = createHash('sha256')
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed) & 0xff
  if (!extra.incompressible) {
    check(`${label}: sender sha256 matches the (i*31+S) pattern`, sent.sha256 === want.update(buf).digest('hex'))
  }
  check(`${label}: receiver sha256 == sender sha256`, got.sha256 === sent.sha256, JSON.stringify(got))
  check(`${label}: text null (not UTF-8)`, got.text === null)
  console.log(`  ${label}: ${Date.now() - t0} ms`)
}

async function manyTransfer(from, to, count) {
  to.clearMessages()
  const t0 = Date.now()
  from.send({ cmd: 'send_many', cap: 'foo', count })
  await from.waitEvent('sent_many', 30_000)
  await to.wait((evs) => evs.filter((e) => e.event === 'message').length >= count, 60_000, `${count} messages`)
  const msgs = to.messages()
  let inOrder = msgs.length === count
  for (let i = 0; inOrder && i < count; i++) if (msgs[i].text !== `m${i}`) inOrder = false
  check(`${from.label}->${to.label} send_many ${count}: all arrived in order`, inOrder, `got ${msgs.length}`)
  console.log(`  ${from.label}->${to.label} ${count} messages: ${Date.now() - t0} ms`)
}

async function main() {
  // --- scenario 1: foo exchange, big and many messages, disconnect with a reason
  {
    const { a, b, idA, idB } = await pair('foo/1,eth/68', 'foo/1,zzz/2,eth/68')
    const pa = await a.waitEvent('peer_added', 10_000)
    const pb = await b.waitEvent('peer_added', 10_000)
    check('A sees B (id, version 5, shared caps eth/68+foo/1)', pa.id === idB && pa.protocol_version === 5 && JSON.stringify(pa.caps) === '["eth/68","foo/1"]', JSON.stringify(pa))
    check('B sees A (zzz not shared)', pb.id === idA && JSON.stringify(pb.caps) === '["eth/68","foo/1"]', JSON.stringify(pb))
    check('client id is ethereumjs default', /^ethereumjs-devp2p\//.test(pa.client))

    b.send({ cmd: 'send', cap: 'foo', code: 0, text: 'foo' })
    const mFoo = await a.waitEvent('message', 10_000)
    const mBar = await b.waitEvent('message', 10_000)
    check('A got "foo"', mFoo.cap === 'foo' && mFoo.code === 0 && mFoo.text === 'foo' && mFoo.len === 4 &&
      mFoo.sha256 === createHash('sha256').update('foo').digest('hex'), JSON.stringify(mFoo))
    check('B got "bar" reply', mBar.text === 'bar' && mBar.form === 'bare' && mBar.cap === 'foo' && mBar.code === 0, JSON.stringify(mBar))

    // foo in the list form is answered in the list form; garbage is only reported
    a.clearMessages()
    b.clearMessages()
    b.send({ cmd: 'send', cap: 'foo', code: 0, text: 'foo', form: 'list' })
    const mListFoo = await a.waitEvent('message', 10_000)
    const mListBar = await b.waitEvent('message', 10_000)
    check('A got ["foo"] (form list)', mListFoo.form === 'list' && mListFoo.text === 'foo' && mListFoo.len === 5 &&
      mListFoo.sha256 === createHash('sha256').update('foo').digest('hex'), JSON.stringify(mListFoo))
    check('B got ["bar"] reply (form list)', mListBar.form === 'list' && mListBar.text === 'bar', JSON.stringify(mListBar))
    a.clearMessages()
    b.send({ cmd: 'send_raw', cap: 'foo', code: 0, hex: 'c883666f6f83666f6f' })
    const mTwo = await a.waitEvent('message', 10_000)
    check('send_raw list of two -> form other, text null', mTwo.form === 'other' && mTwo.text === null && mTwo.len === 9, JSON.stringify(mTwo))
    a.clearMessages()
    b.send({ cmd: 'send_raw', cap: 'foo', code: 0, hex: '' })
    const mEmpty = await a.waitEvent('message', 10_000)
    check('send_raw empty payload -> form other, len 0', mEmpty.form === 'other' && mEmpty.len === 0, JSON.stringify(mEmpty))
    a.clearMessages()
    b.send({ cmd: 'send_raw', cap: 'foo', code: 0, hex: '83666f' })
    const mCut = await a.waitEvent('message', 10_000)
    check('send_raw truncated string -> form other', mCut.form === 'other' && mCut.text === null, JSON.stringify(mCut))
    b.send({ cmd: 'send', cap: 'foo', code: 0, text: 'x', form: 'nope' })
    const formErr = await b.waitEvent('error', 5_000)
    check('bad send form -> error event', /form must be/.test(formErr.message), JSON.stringify(formErr))
    b.events = b.events.filter((e) => e.event !== 'error')

    // eth/68 messages are only reported
    b.clearMessages()
    a.send({ cmd: 'send', cap: 'eth', code: 3, text: 'hello eth' })
    const mEth = await b.waitEvent('message', 10_000)
    check('eth/68 message reported', mEth.cap === 'eth' && mEth.code === 3 && mEth.text === 'hello eth', JSON.stringify(mEth))

    await bigTransfer(a, b, 1 << 20, 7)
    await bigTransfer(b, a, 1 << 20, 8)
    await bigTransfer(a, b, 15 << 20, 9)
    await bigTransfer(b, a, 15 << 20, 10)
    await bigTransfer(a, b, 15 << 20, 11, { incompressible: true })
    await bigTransfer(b, a, 15 << 20, 12, { incompressible: true })
    await manyTransfer(a, b, 10_000)
    await manyTransfer(b, a, 10_000)

    a.send({ cmd: 'send', cap: 'nope', code: 0, text: 'x' })
    const err = await a.waitEvent('error', 5_000)
    check('unknown cap in a command -> error event', /not shared/.test(err.message))

    b.send({ cmd: 'disconnect', reason: 4 })
    const rb = await b.waitEvent('peer_removed', 10_000)
    const ra = await a.waitEvent('peer_removed', 10_000)
    check('B: peer_removed reason 4 by_us', rb.reason === 4 && rb.reason_name === 'TOO_MANY_PEERS' && rb.by_us === true, JSON.stringify(rb))
    check('A: peer_removed reason 4 not by_us', ra.reason === 4 && ra.by_us === false, JSON.stringify(ra))
    a.send({ cmd: 'exit' })
    b.send({ cmd: 'exit' })
    check('A exits 0', (await a.exit) === 0)
    check('B exits 0', (await b.exit) === 0)
  }

  // --- scenario 2: Disconnect reason 0 between two ethereumjs peers (raw bare 0x80 payload)
  {
    const { a, b } = await pair('foo/1', 'foo/1')
    await a.waitEvent('peer_added', 10_000)
    await b.waitEvent('peer_added', 10_000)
    a.send({ cmd: 'disconnect', reason: 0 })
    const ra = await a.waitEvent('peer_removed', 10_000)
    const rb = await b.waitEvent('peer_removed', 10_000)
    check('A: disconnect(0) -> peer_removed reason 0 by_us', ra.reason === 0 && ra.by_us === true, JSON.stringify(ra))
    console.log(`  NOTE B saw: ${JSON.stringify(rb)}`)
    a.send({ cmd: 'exit' })
    b.send({ cmd: 'exit' })
    await Promise.all([a.exit, b.exit])
  }

  // --- scenario 3: exit sends CLIENT_QUITTING
  {
    const { a, b } = await pair('foo/1', 'foo/1')
    await a.waitEvent('peer_added', 10_000)
    await b.waitEvent('peer_added', 10_000)
    b.send({ cmd: 'exit' })
    check('B exit -> exit code 0', (await b.exit) === 0)
    const ra = await a.waitEvent('peer_removed', 10_000)
    check('A: peer_removed CLIENT_QUITTING not by_us', ra.reason === 8 && ra.by_us === false, JSON.stringify(ra))
    a.send({ cmd: 'exit' })
    await a.exit
  }

  // --- scenario 4: no shared capability
  {
    const { a, b } = await pair('foo/1', 'zzz/2')
    const ca = await a.waitEvent('connection_closed', 10_000)
    const cb = await b.waitEvent('connection_closed', 10_000)
    check('no shared cap: nobody emits peer_added',
      !a.events.some((e) => e.event === 'peer_added') && !b.events.some((e) => e.event === 'peer_added'))
    check('no shared cap: someone sent USELESS_PEER',
      (ca.reason === 3 && ca.by_us) || (cb.reason === 3 && cb.by_us), `${JSON.stringify(ca)} ${JSON.stringify(cb)}`)
    a.send({ cmd: 'exit' })
    b.send({ cmd: 'exit' })
    await Promise.all([a.exit, b.exit])
  }

  check('stdout carried only JSON lines', nonJsonLines === 0, `${nonJsonLines} bad lines`)
  finish(0)
}

main().catch((err) => {
  console.log(`selftest error: ${err.stack ?? err}`)
  failed++
  finish(1)
})
