// Sends events with the real @segment/analytics-node to `serve`.
// Usage: node send_node.js HOST WRITE_KEY COUNT
const { Analytics } = require('@segment/analytics-node');

async function main() {
  const [host, writeKey, count] = process.argv.slice(2);
  const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 50, flushInterval: 200 });
  let failed = 0;
  analytics.on('error', (err) => { failed += 1; console.error('delivery error', err && err.code); });
  for (let i = 0; i < Number(count); i += 1) {
    const userId = `node-user-${i % 17}`;
    switch (i % 5) {
      case 0: analytics.identify({ userId, traits: { email: `${userId}@example.com`, plan: 'trial', n: i } }); break;
      case 1: analytics.track({ userId, event: 'Order Completed', properties: { id: `node-${i}`, revenue: i } }); break;
      case 2: analytics.page({ userId, category: 'Docs', name: 'Serve', properties: { id: `node-${i}` } }); break;
      case 3: analytics.group({ userId, groupId: `g-${i % 3}`, traits: { name: `Group ${i % 3}` } }); break;
      default: analytics.track({ anonymousId: `anon-${i}`, event: 'Signed Up', properties: { id: `node-${i}` } });
    }
  }
  await analytics.closeAndFlush({ timeout: 60000 });
  if (failed > 0) { process.exit(1); }
}

main().catch((e) => { console.error(e); process.exit(1); });
