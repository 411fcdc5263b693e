// Sends the calls given on standard input (a JSON array of {type, ...params}) through
// Segment's Node SDK to the collector at COLLECT_URL, then prints what the SDK reported.
import { readFileSync } from 'node:fs'
import { Analytics } from '@segment/analytics-node'

const calls = JSON.parse(readFileSync(0, 'utf8'))
const analytics = new Analytics({
  writeKey: process.env.COLLECT_WRITE_KEY,
  host: process.env.COLLECT_URL,
  maxEventsInBatch: Number(process.env.COLLECT_BATCH || 15),
  flushInterval: 100,
})
const errors = []
analytics.on('error', (error) => errors.push(String(error.reason ?? error.code ?? error)))
let delivered = 0
for (const { type, ...params } of calls) {
  analytics[type](params, (error) => { if (error) errors.push(String(error)); else delivered += 1 })
}
await analytics.closeAndFlush()
console.log(JSON.stringify({ delivered, errors }))
