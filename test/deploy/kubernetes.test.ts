// The Kubernetes manifests of deploy/kubernetes/, parsed: the fields a drain, a checkpoint
// and a resume depend on are there and agree with each other and with cr's own flags (each
// container's command line is parsed by the cr-scheduler command it runs).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { agentCommand } from '../../scheduler/commands/agent.js';
import { runCommand } from '../../scheduler/commands/run.js';
import { serveCommand } from '../../scheduler/commands/serve.js';
import { EXIT_STOPPED } from '../../scheduler/signals.js';
import { ROOT } from '../runner/helpers.js';

const DIR = path.join(ROOT, 'deploy', 'kubernetes');

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped YAML */
type Doc = Record<string, any>;

function load(file: string): Doc[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'));
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS() as Doc);
}

function find(docs: Doc[], kind: string): Doc {
  const doc = docs.find((d) => d.kind === kind);
  if (!doc) throw new Error(`no ${kind}`);
  return doc;
}

/** The command's flags after `cr-scheduler <name>`, parsed by that command: values by option name. */
async function parseFlags(command: Command, words: string[]): Promise<Record<string, unknown>> {
  let message = '';
  command.exitOverride().configureOutput({ writeErr: (text) => (message += text), writeOut: () => undefined });
  command.action(() => undefined);
  try {
    await command.parseAsync(words, { from: 'user' });
  } catch (err) {
    throw new Error(`${words.join(' ')}: ${message || (err as Error).message}`);
  }
  return command.opts();
}

function volumeOf(pod: Doc, container: Doc, mountPath: string): Doc {
  const mount = (container.volumeMounts as Doc[]).find((m) => mountPath === m.mountPath || mountPath.startsWith(`${m.mountPath}/`));
  if (!mount) throw new Error(`nothing is mounted at ${mountPath}`);
  return (pod.volumes as Doc[] | undefined)?.find((v) => v.name === mount.name) ?? { name: mount.name };
}

test('Every manifest parses, and each object is named and lives in the cr namespace.', (t) => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  t.deepEqual(files.sort(), ['agents.yaml', 'job.yaml', 'namespace.yaml', 'scheduler.yaml']);
  for (const file of files) {
    for (const doc of load(file)) {
      t.truthy(doc.apiVersion, file);
      t.truthy(doc.metadata?.name, file);
      if (doc.kind !== 'Namespace') t.is(doc.metadata.namespace, 'cr', `${file}: ${doc.kind} ${doc.metadata.name}`);
    }
  }
});

test('The scheduler is a StatefulSet whose --data is on its persistent volume, behind the Service agents address.', async (t) => {
  const docs = load('scheduler.yaml');
  const set = find(docs, 'StatefulSet');
  const service = find(docs, 'Service');
  const pod = set.spec.template.spec;
  const container = pod.containers[0];
  t.deepEqual(container.command.slice(0, 2), ['cr-scheduler', 'serve']);
  const flags = await parseFlags(serveCommand(), container.command.slice(2));
  t.false(flags.localAgent, 'the scheduler runs no jobs itself');
  const claim = (set.spec.volumeClaimTemplates as Doc[]).find((c) => c.metadata.name === volumeOf(pod, container, String(flags.data)).name);
  t.truthy(claim, '--data is on a volume claim template');
  t.regex(String(claim!.spec.resources.requests.storage), /^\d+[GT]i$/);
  t.deepEqual(service.spec.selector, set.spec.template.metadata.labels);
  t.is(service.spec.ports[0].port, Number(String(flags.listen).split(':')[1]));
  // Agents reach it by the Service's name, which its certificate must carry.
  const agent = find(load('agents.yaml'), 'Deployment').spec.template.spec.containers[0];
  const scheduler = String((await parseFlags(agentCommand(), agent.command.slice(2))).scheduler);
  t.is(scheduler, `${service.metadata.name}.${service.metadata.namespace}.svc:${service.spec.ports[0].port}`);
  t.true((flags.san as string[]).includes(scheduler.split(':')[0]!));
});

test('Agents drain in preStop, their grace period covers the drain, and their CA and token come from Secrets.', async (t) => {
  const deployment = find(load('agents.yaml'), 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  t.deepEqual(container.command.slice(0, 2), ['cr-scheduler', 'agent']);
  const flags = await parseFlags(agentCommand(), container.command.slice(2));
  // The hook signals the agent (PID 1: the command is not run through a shell) and waits for it.
  const hook = container.lifecycle.preStop.exec.command as string[];
  t.regex(hook.join(' '), /kill -TERM 1; while kill -0 1 2>\/dev\/null; do sleep 1; done/);
  t.false(container.command[0] === '/bin/sh', 'the agent is PID 1');
  const drainS = flags.drainTimeout as number;
  t.true(pod.terminationGracePeriodSeconds > drainS, `grace period ${pod.terminationGracePeriodSeconds} s must exceed --drain-timeout ${drainS} s`);
  t.true(drainS >= 60, 'a drain has time for a checkpoint and its upload');
  // Each node is named after its pod.
  t.is(flags.name, '$(POD_NAME)');
  t.is(container.env.find((e: Doc) => e.name === 'POD_NAME').valueFrom.fieldRef.fieldPath, 'metadata.name');
  const ca = volumeOf(pod, container, String(flags.ca));
  const token = volumeOf(pod, container, String(flags.tokenFile));
  t.is(ca.secret?.secretName, 'cr-ca');
  t.is(token.secret?.secretName, 'cr-agent-token');
  t.is(token.secret.defaultMode, 0o400, 'the token is readable by the agent alone');
  t.is(volumeOf(pod, container, String(flags.work)).emptyDir !== undefined, true, 'jobs work on pod-local storage');
});

test('The Job runs cr-scheduler run on a persistent volume, and its podFailurePolicy counts neither disruptions nor a stop after a checkpoint.', async (t) => {
  const docs = load('job.yaml');
  const job = find(docs, 'Job');
  const pvc = find(docs, 'PersistentVolumeClaim');
  const pod = job.spec.template.spec;
  const container = pod.containers[0];
  t.deepEqual(container.command.slice(0, 2), ['cr-scheduler', 'run']);
  const flags = await parseFlags(runCommand(() => false), container.command.slice(2));
  t.is(volumeOf(pod, container, String(flags.store)).persistentVolumeClaim?.claimName, pvc.metadata.name);
  t.deepEqual(pvc.spec.accessModes, ['ReadWriteMany']);
  t.is(pod.restartPolicy, 'Never', 'podFailurePolicy needs restartPolicy Never');
  t.true(pod.terminationGracePeriodSeconds >= 60);
  const rules = job.spec.podFailurePolicy.rules as Doc[];
  t.true(rules.some((r) => r.action === 'Ignore' && r.onPodConditions?.some((c: Doc) => c.type === 'DisruptionTarget')));
  const onExit = rules.find((r) => r.onExitCodes);
  t.like(onExit, { action: 'Ignore', onExitCodes: { containerName: container.name, operator: 'In' } });
  t.deepEqual(onExit!.onExitCodes.values, [EXIT_STOPPED]);
  t.true(job.spec.backoffLimit >= 1);
});
