import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { healthPaths } from '../internal/health/health-server.js';
import { nativeAddonPath } from '../internal/icmp/native-socket.js';
import { parseConfigText } from './config/load.js';

const root = new URL('../', import.meta.url);
const read = (p: string): string => readFileSync(new URL(p, root), 'utf8');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function docs(p: string): Obj[] {
  const all = parseAllDocuments(read(p));
  for (const d of all) assert.deepEqual(d.errors, [], `${p} parses`);
  return all.map((d) => d.toJS() as Obj).filter(Boolean);
}

function container(p: string): Obj {
  const w = docs(p).find((d) => d.kind === 'DaemonSet' || d.kind === 'StatefulSet') as Obj;
  return w.spec.template.spec.containers[0] as Obj;
}

test('the ConfigMap holds a valid config whose ${VARS} the Secret provides', () => {
  const cm = docs('deploy/kubernetes/configmap.yaml')[0] as Obj;
  const secret = docs('deploy/kubernetes/secret.yaml')[0] as Obj;
  const text = cm.data['config.yaml'] as string;
  const vars = [...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1] as string);
  assert.ok(vars.length > 0);
  for (const v of vars) assert.ok(v in secret.stringData, `${v} is in the Secret`);
  const { config } = parseConfigText(text, { env: secret.stringData as Record<string, string> });
  assert.equal(config.health_check_port, 8080);
});

test('probes and health checks use endpoints the agent serves, on the configured port', () => {
  for (const p of [
    'deploy/kubernetes/daemonset.yaml',
    'deploy/kubernetes/statefulset.yaml',
    'deploy/kubernetes/daemonset-restricted.yaml',
  ]) {
    const c = container(p);
    assert.ok((healthPaths as readonly string[]).includes(c.livenessProbe.httpGet.path), p);
    assert.ok((healthPaths as readonly string[]).includes(c.readinessProbe.httpGet.path), p);
    assert.equal(c.ports[0].containerPort, 8080);
    assert.ok(c.envFrom.some((e: Obj) => e.secretRef?.name === 'netscan-secrets'));
  }
  for (const p of ['deploy/kubernetes/daemonset.yaml', 'deploy/kubernetes/statefulset.yaml']) {
    assert.deepEqual(
      container(p).securityContext.capabilities,
      { drop: ['ALL'], add: ['NET_RAW'] },
      `${p}: raw sockets, one capability`,
    );
  }
  const docker = read('deploy/docker/Dockerfile');
  const hc = /HEALTHCHECK[\s\S]*?'(\/health[^']*)'/.exec(docker)?.[1];
  assert.ok(hc && (healthPaths as readonly string[]).includes(hc), `Dockerfile HEALTHCHECK path ${hc}`);
});

test('the StatefulSet derives each shard index from the pod name and its count from replicas', () => {
  const ss = docs('deploy/kubernetes/statefulset.yaml').find((d) => d.kind === 'StatefulSet') as Obj;
  const env = ss.spec.template.spec.containers[0].env as Obj[];
  assert.deepEqual(env.find((e) => e.name === 'NETSCAN_SHARD_INDEX')?.valueFrom, {
    fieldRef: { fieldPath: 'metadata.name' },
  });
  assert.equal(Number(env.find((e) => e.name === 'NETSCAN_SHARD_COUNT')?.value), ss.spec.replicas);
  const { config } = parseConfigText('icmp_discovery_interval: 5m\nping_interval: 2s\n', {
    env: { NETSCAN_SHARD_INDEX: `${ss.metadata.name}-2`, NETSCAN_SHARD_COUNT: String(ss.spec.replicas) },
  });
  assert.deepEqual(config.shard, { index: 2, count: 3 });
});

test('systemd, Docker and the bin launcher run node with the same flags', () => {
  const shebang = read('bin/netscan.js').split('\n')[0] ?? '';
  const flags = shebang.replace(/^#!\/usr\/bin\/env -S node/, '').trim();
  assert.match(flags, /^--max-semi-space-size=\d+$/);
  assert.match(
    read('deploy/systemd/netscan.service'),
    new RegExp(`^ExecStart=/usr/bin/node ${flags} /opt/netscan/bin/netscan\\.js `, 'm'),
  );
  assert.ok(
    read('deploy/docker/Dockerfile').includes(
      `"node", ${flags
        .split(' ')
        .map((f) => JSON.stringify(f))
        .join(', ')}, "/app/bin/netscan.js"`,
    ),
  );
  assert.match(JSON.parse(read('package.json')).scripts.start as string, /\.\/bin\/netscan\.js run$/);
});

test('the systemd unit grants only CAP_NET_RAW, runs the bin and reloads with SIGHUP', () => {
  const unit = read('deploy/systemd/netscan.service');
  const kv = (k: string): string[] => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1] as string);
  assert.deepEqual(kv('AmbientCapabilities'), ['CAP_NET_RAW']);
  assert.deepEqual(kv('CapabilityBoundingSet'), ['CAP_NET_RAW']);
  assert.deepEqual(kv('NoNewPrivileges'), ['yes']);
  assert.match(kv('ExecStart')[0] ?? '', /bin\/netscan\.js run --config \S+/);
  assert.deepEqual(kv('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.ok(readFileSync(new URL('bin/netscan.js', root)));
});

test('the restricted DaemonSet holds no capability, passes Pod Security "restricted" and lets its group open datagram ICMP sockets', () => {
  const all = docs('deploy/kubernetes/daemonset-restricted.yaml');
  const ds = all.find((d) => d.kind === 'DaemonSet') as Obj;
  const pod = ds.spec.template.spec as Obj;
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) assert.ok(!pod[k], `${k} is not set`);
  assert.deepEqual(
    (pod.volumes as Obj[]).filter((v) => v.hostPath !== undefined),
    [],
    'no hostPath volume',
  );
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  const sysctls = pod.securityContext.sysctls as Obj[];
  assert.deepEqual(sysctls, [{ name: 'net.ipv4.ping_group_range', value: '0 2147483647' }]);
  const [low, high] = (sysctls[0]!.value as string).split(' ').map(Number);
  assert.ok(
    low! <= pod.securityContext.runAsGroup && pod.securityContext.runAsGroup <= high!,
    "the range holds the pod's group",
  );
  const containers = [...(pod.initContainers ?? []), ...pod.containers] as Obj[];
  assert.ok(containers.length > 0);
  for (const c of containers) {
    const sc = c.securityContext as Obj;
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, `${c.name}: drops every capability and adds none`);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.ok(!sc.privileged);
    assert.notEqual(sc.runAsUser, 0);
    assert.deepEqual(sc.seccompProfile ?? pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  }
  // Its own ConfigMap: valid, dgram sockets, every ${VAR} provided by the Secret.
  const cm = all.find((d) => d.kind === 'ConfigMap') as Obj;
  assert.equal(pod.volumes.find((v: Obj) => v.name === 'config').configMap.name, cm.metadata.name);
  const secret = docs('deploy/kubernetes/secret.yaml')[0] as Obj;
  const { config } = parseConfigText(cm.data['config.yaml'] as string, {
    env: secret.stringData as Record<string, string>,
  });
  assert.equal(config.icmp_mode, 'dgram');
  assert.equal(config.health_check_port, 8080);
});

test('the restricted pod runs the image stage without a file capability; the default image keeps one', () => {
  const docker = read('deploy/docker/Dockerfile');
  const stages = docker.split(/^FROM /m).slice(1);
  const unprivileged = stages.find((st) => /^\S+ AS unprivileged$/m.test(st.split('\n')[0] ?? ''));
  assert.ok(unprivileged, 'a stage named unprivileged');
  assert.doesNotMatch(unprivileged, /setcap/);
  assert.match(
    stages.at(-1) ?? '',
    /^unprivileged\n[\s\S]*setcap cap_net_raw\+ep/,
    'the default (last) stage adds the capability on top',
  );
  assert.equal(container('deploy/kubernetes/daemonset-restricted.yaml').image, 'netscan:unprivileged');
  assert.match(docker, /--target unprivileged -t netscan:unprivileged/);
});

test('the systemd unit documents the capability-free way: the ping_group_range sysctl', () => {
  const unit = read('deploy/systemd/netscan.service');
  assert.match(unit, /^#\s+echo 'net\.ipv4\.ping_group_range = 0 2147483647' > \/etc\/sysctl\.d\/\S+\.conf$/m);
  assert.match(unit, /`CapabilityBoundingSet=` \(empty: no capability at all\)/);
});

test('the image builds the ICMP addon and ships it where the agent loads it from', () => {
  const docker = read('deploy/docker/Dockerfile');
  assert.match(docker, /^RUN node scripts\/build-native\.mjs /m);
  const saved = process.env.NETSCAN_ICMP_ADDON;
  delete process.env.NETSCAN_ICMP_ADDON;
  const where = relative(fileURLToPath(root), nativeAddonPath());
  if (saved !== undefined) process.env.NETSCAN_ICMP_ADDON = saved;
  assert.ok(docker.includes(`COPY --from=build /app/${where} ./${where}`), `the runtime stage copies ${where}`);
  assert.match(docker, /^WORKDIR \/app$/m);
});
