// `cr-scheduler doctor`, run as a user runs it: the report agrees with what the addon itself
// says, a disabled addon is reported with its consequences, the store's own file system is
// probed (and left as it was), and the table is aligned.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { loadNative } from '../../../src/native/binding.js';
import type { DoctorReport } from '../../../scheduler/commands/doctor.js';
import { runCli, show, tempDir } from '../../runner/helpers.js';

const KEYS: (keyof DoctorReport)[] = ['addon', 'zstd', 'threads', 'writeProtect', 'pagemapScan', 'copyOnWrite', 'directIo', 'hugePages', 'storeFilesystem', 'storeSpace'];

function parse(stdout: string): DoctorReport & { store: string } {
  return JSON.parse(stdout) as DoctorReport & { store: string };
}

test('doctor --json reports every check, in agreement with the addon this process loads', async (t) => {
  const store = path.join(tempDir(t, 'doctor'), 'store');
  fs.mkdirSync(store);
  const run = await runCli(t, ['doctor', '--json', '--store', store]);
  t.is(run.code, 0, show(run));
  const report = parse(run.stdout);
  t.is(report.store, store);
  for (const key of KEYS) {
    t.is(typeof report[key].available, 'boolean', key);
    t.true(report[key].value.length > 0 && report[key].detail.length > 0, key);
  }
  const { binding } = loadNative();
  t.is(report.addon.available, binding !== null);
  if (!binding) {
    t.log(`the addon does not load here (${loadNative().reason}): only the portable side is compared`);
    t.is(report.zstd.value, 'portable');
    return;
  }
  t.is(report.zstd.value, 'native');
  t.true(report.zstd.detail.includes(binding.zstdVersion));
  t.is(report.threads.value, String(binding.threads));
  const tracking = binding.dirtyTrackingSupport();
  t.is(report.writeProtect.available && report.pagemapScan.available, tracking.available);
  t.is(report.copyOnWrite.available, binding.cowSupport().available);
  if (!tracking.available) t.true(`${report.writeProtect.detail} ${report.pagemapScan.detail}`.includes(tracking.reason!));
  // The O_DIRECT probe wrote into the store itself and removed its file.
  t.true(report.directIo.detail.includes(store), report.directIo.detail);
  t.deepEqual(fs.readdirSync(store), []);
  const stats = fs.statfsSync(store);
  t.true(report.storeSpace.detail.includes('of '), report.storeSpace.detail);
  t.true(stats.bavail * stats.bsize > 0 === report.storeSpace.available);
});

test('doctor says the addon is off, and what follows from it, under CR_NATIVE=0', async (t) => {
  const run = await runCli(t, ['doctor', '--json', '--store', tempDir(t, 'doctor')], { CR_NATIVE: '0' });
  t.is(run.code, 0, show(run));
  const report = parse(run.stdout);
  t.false(report.addon.available);
  t.is(report.addon.value, 'off');
  t.is(report.zstd.value, 'portable');
  t.true(report.zstd.available, 'the portable codec loads');
  for (const key of ['writeProtect', 'pagemapScan', 'copyOnWrite', 'directIo'] as const) {
    t.false(report[key].available, key);
    t.is(report[key].detail, 'needs the native addon');
  }
});

test('doctor checks the nearest existing directory of a store not created yet, and creates nothing', async (t) => {
  const dir = tempDir(t, 'doctor');
  const store = path.join(dir, 'not', 'yet');
  const run = await runCli(t, ['doctor', '--json', '--store', store]);
  t.is(run.code, 0, show(run));
  const report = parse(run.stdout);
  t.true(report.storeFilesystem.detail.startsWith(`${dir} (the store does not exist yet)`), report.storeFilesystem.detail);
  t.deepEqual(fs.readdirSync(dir), []);
});

const SHM = '/dev/shm';
const shmMounted = fs.existsSync('/proc/self/mountinfo') && fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${SHM} `);
const shmTitle = 'doctor names an in-memory store as one whose images do not survive a reboot';
if (!shmMounted) test.skip(`${shmTitle} [no ${SHM} mount here]`, () => undefined);
else
  test(shmTitle, async (t) => {
    const run = await runCli(t, ['doctor', '--json', '--store', path.join(SHM, `cr-doctor-${process.pid}`)]);
    t.is(run.code, 0, show(run));
    const report = parse(run.stdout);
    t.is(report.storeFilesystem.value, 'tmpfs');
    t.false(report.storeFilesystem.available);
    t.regex(report.storeFilesystem.detail, /do not survive a reboot/);
  });

test('doctor prints an aligned table with one row per check', async (t) => {
  const run = await runCli(t, ['doctor', '--store', tempDir(t, 'doctor')]);
  t.is(run.code, 0, show(run));
  t.is(run.stderr, '');
  const lines = run.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^what this machine gives cr \(store .+\)$/);
  const header = lines.indexOf(lines.find((line) => line.startsWith('CHECK'))!);
  const rows = lines.slice(header);
  t.is(rows.length, KEYS.length + 1);
  const resultColumn = rows[0]!.indexOf('RESULT');
  const detailColumn = rows[0]!.indexOf('DETAIL');
  for (const row of rows.slice(1)) {
    t.is(row.slice(resultColumn - 2, resultColumn), '  ', row);
    t.not(row[resultColumn], ' ', row);
    t.is(row.slice(detailColumn - 2, detailColumn), '  ', row);
    t.not(row[detailColumn], ' ', row);
  }
  for (const label of ['native addon', 'zstd', 'threads', 'userfaultfd write-protect', 'PAGEMAP_SCAN', 'copy-on-write', 'O_DIRECT', 'huge pages', 'store file system', 'store free space']) {
    t.true(rows.some((row) => row.startsWith(label)), label);
  }
});
