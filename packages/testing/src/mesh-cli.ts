// `node packages/testing/dist/mesh-cli.js`: the local dev stack's services (used by `./parley up`).
// Starts all six services and two gateways on the fixed ports of docs/architecture.md, prints the URL,
// and stops everything it started on Ctrl-C / SIGTERM.
import { startMesh } from './mesh.js';

const gateways = Number(process.env.PARLEY_GATEWAYS ?? '2');
const t0 = Date.now();
startMesh({ fixed: true, gateways, onProgress: (l) => console.log(l) })
  .then((mesh) => {
    console.log(`[mesh] all services ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (logs in .run/mesh/${mesh.id}/)`);
    console.log('');
    console.log(`  Parley is up. Web client: ${mesh.gatewayUrls[0]}/`);
    console.log(`  Connect to:                ${mesh.wsUrls[0]}   (HTTP API: ${mesh.gatewayUrls[0]})`);
    mesh.wsUrls.slice(1).forEach((u, i) => console.log(`  second gateway:            ${u}   (HTTP API: ${mesh.gatewayUrls[i + 1]})`));
    if (mesh.pushFakes)
      console.log(`  push goes to local fake providers: ${mesh.pushFakes.env.PUSH_FCM_BASE_URL?.replace(/\/fcm$/, '')} (FCM, Web Push, webhooks), ${mesh.pushFakes.env.PUSH_APNS_BASE_URL} (APNs)`);
    console.log('  Press Ctrl-C to stop.');
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      console.log('[mesh] stopping services…');
      void mesh.stop().then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  })
  .catch((err: unknown) => {
    console.error(`[mesh] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
