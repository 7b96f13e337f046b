// The set of services in services/ must equal the set of images in skaffold.yaml, the chart's service
// templates, its values blocks and the image builds of the shared Dockerfile: adding a service without wiring it fails here.
import { CHART, imageBuilds, loadSkaffold, loadValues, serviceTemplates, servicesOnDisk, wiringProblems } from './lib.js';

const services = servicesOnDisk();
const current = () => ({
  services,
  skaffold: loadSkaffold(),
  templates: serviceTemplates(),
  values: loadValues(),
  images: imageBuilds(),
});

test('services/ holds the seven services of the design', () => {
  expect(services).toEqual(['gateway', 'group', 'media', 'message', 'presence', 'push', 'session']);
});

test('every service is a skaffold artifact wired into the chart, a chart template, a values block and an image build', () => {
  expect(wiringProblems(current())).toEqual([]);
  expect(serviceTemplates(CHART)).toEqual(services);
});

describe('the wiring check can fail', () => {
  test('a service dropped from skaffold.yaml', () => {
    const input = current();
    input.skaffold.build.artifacts = input.skaffold.build.artifacts.filter((a: { image: string }) => a.image !== 'presence');
    expect(wiringProblems(input)).toContain('service presence has no skaffold artifact');
  });

  test('a service whose image skaffold builds but never hands to the chart', () => {
    const input = current();
    delete input.skaffold.deploy.helm.releases[0].setValueTemplates['media.image.tag'];
    expect(wiringProblems(input).join('\n')).toMatch(/does not set media\.image\.tag/);
  });

  test('a new service folder without template, artifact, values or image build', () => {
    const input = current();
    input.services = [...services, 'receipts'];
    const problems = wiringProblems(input);
    expect(problems).toEqual(expect.arrayContaining([
      'service receipts has no skaffold artifact',
      'service receipts has no chart template (charts/parley/templates/<service>.yaml)',
      'service receipts has no image build (package @parley/<service>-service for the Dockerfile)',
      'service receipts has no values block',
    ]));
  });

  test('a chart template for a service that does not exist', () => {
    const input = current();
    input.templates = [...input.templates, 'ghost'];
    expect(wiringProblems(input)).toContain('chart template (charts/parley/templates/<service>.yaml) ghost is not a service in services/');
  });

  test('an artifact built from the wrong context', () => {
    const input = current();
    input.skaffold.build.artifacts[0].context = `services/${input.skaffold.build.artifacts[0].image}`;
    expect(wiringProblems(input).join('\n')).toMatch(/context must be "\."/);
  });

  test('an artifact that builds another service (the shared Dockerfile with the wrong SERVICE)', () => {
    const input = current();
    input.skaffold.build.artifacts[1].docker.buildArgs.SERVICE = input.skaffold.build.artifacts[0].image;
    expect(wiringProblems(input).join('\n')).toMatch(/must build the shared Dockerfile with buildArgs \{SERVICE: /);
  });
});
