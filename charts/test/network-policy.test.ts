// The chart's NetworkPolicies (issue 15) against the wiring the Deployments actually get: a service's gRPC
// port admits exactly the services whose env names its address (<CALLER>_<SERVICE>_ADDR), its ops port stays
// open, the gateways have none, and networkPolicy.enabled=false drops them.
import { CHART, MODES, ensureTools, render, type K8sObject, type Obj } from './lib.js';

const GRPC = ['session', 'group', 'message', 'presence', 'media', 'push'];
const component = (o: Obj): string => o.metadata?.labels?.['app.kubernetes.io/component'] ?? o.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'];
let byMode: Record<string, K8sObject[]> = {};

beforeAll(() => {
  ensureTools();
  byMode = Object.fromEntries(Object.entries(MODES).map(([m, files]) => [m, render(CHART, files).objects]));
}, 900_000);

test.each(Object.keys(MODES))('each gRPC port admits exactly its callers (%s values)', (mode) => {
  const objects = byMode[mode]! as Obj[];
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  expect(policies.map(component).sort()).toEqual([...GRPC].sort());
  for (const svc of GRPC) {
    const P = svc.toUpperCase();
    const callers = deployments
      .filter((d) => (d.spec.template.spec.containers[0].env as { name: string }[]).some((e) => new RegExp(`^[A-Z]+_${P}_ADDR$`).test(e.name)))
      .map(component)
      // message replicas forward sends to the holder of a chat's sequencer shard (MESSAGE_ADVERTISE_ENDPOINT).
      .concat(svc === 'message' ? ['message'] : [])
      .sort();
    const pol = policies.find((p) => component(p) === svc)!;
    const dep = deployments.find((d) => component(d) === svc)!;
    const portOf = (name: string) => (dep.spec.template.spec.containers[0].ports as { name: string; containerPort: number }[]).find((p) => p.name === name)!.containerPort;
    const grpcRule = (pol.spec.ingress as Obj[]).find((r) => r.from);
    expect([svc, (grpcRule?.from ?? []).map((f: Obj) => f.podSelector.matchLabels['app.kubernetes.io/component']).sort()]).toEqual([svc, callers]);
    expect(grpcRule!.ports.map((p: Obj) => p.port)).toEqual([portOf('grpc')]);
    const open = (pol.spec.ingress as Obj[]).find((r) => !r.from);
    expect(open!.ports.map((p: Obj) => p.port)).toEqual([portOf('ops')]);
  }
});

test('networkPolicy.enabled=false renders none', () => {
  expect(render(CHART, [], ['networkPolicy.enabled=false']).objects.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
});
