// The drivers' command lines, read by Node's own `util.parseArgs`: every option takes a value
// unless declared `{ type: 'boolean' }`; an unknown option, a missing value or a positional
// argument goes to `fatal` with Node's message.

import { parseArgs } from 'node:util'

export function readArgs(options, fatal) {
  try {
    return parseArgs({ args: process.argv.slice(2), options, strict: true }).values
  } catch (e) {
    return fatal(e.message)
  }
}

// A secp256k1 private key as the tests pass it: 64 hex digits.
export const isKey = (key) => typeof key === 'string' && /^[0-9a-fA-F]{64}$/.test(key)
