// `cr-scheduler doctor`: what this machine gives cr, and why not where it does not. Every line is
// probed here and now (the addon's own probes, a real O_DIRECT write in the store's directory),
// never inferred from the kernel version alone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { getPortableCodec, loadNative, type NativeBinding, PACKAGE_NAME } from '../../src/internal.js';
import { formatBytes, table, toJson } from '../output.js';
import { parsePath } from '../options.js';
import { DEFAULT_STORE } from './run.js';

/** One line of the report: `value` is what cr gets, `detail` says how or why not. */
export interface Finding {
  /** Whether cr uses this here (false: it does without, as `detail` says). */
  available: boolean;
  value: string;
  detail: string;
}

export type DoctorReport = Record<
  'addon' | 'zstd' | 'threads' | 'writeProtect' | 'pagemapScan' | 'copyOnWrite' | 'directIo' | 'hugePages' | 'storeFilesystem' | 'storeSpace',
  Finding
>;

const LABELS: Record<keyof DoctorReport, string> = {
  addon: 'native addon',
  zstd: 'zstd',
  threads: 'threads',
  writeProtect: 'userfaultfd write-protect',
  pagemapScan: 'PAGEMAP_SCAN',
  copyOnWrite: 'copy-on-write',
  directIo: 'O_DIRECT',
  hugePages: 'huge pages',
  storeFilesystem: 'store file system',
  storeSpace: 'store free space',
};

/** Where the addon's failed build left node-gyp's output (native/install.cjs). */
const INSTALL_LOG = fileURLToPath(new URL('../../../build/install.log', import.meta.url));

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('show what this machine gives cr (native addon, zstd, threads, userfaultfd, copy-on-write, O_DIRECT, huge pages, the store) and why not where it does not')
    .addOption(new Option('--store <dir>', 'the store to check (its file system, O_DIRECT, free space)').env('CR_STORE').argParser(parsePath('--store')).default(DEFAULT_STORE))
    .option('--json', 'the report as JSON, for scripts')
    .action(async (flags: { store: string; json?: boolean }) => {
      const report = await diagnose(flags.store);
      if (flags.json) return void process.stdout.write(`${toJson({ store: path.resolve(flags.store), ...report })}\n`);
      const rows = (Object.keys(LABELS) as (keyof DoctorReport)[]).map((key) => [LABELS[key], report[key].value, report[key].detail]);
      process.stdout.write(`what this machine gives cr (store ${path.resolve(flags.store)})\n\n${table(['CHECK', 'RESULT', 'DETAIL'], rows)}\n`);
    });
}

export async function diagnose(store: string): Promise<DoctorReport> {
  const { binding, reason } = loadNative();
  const dir = existingAncestor(path.resolve(store));
  return {
    addon: addonFinding(binding, reason),
    zstd: await zstdFinding(binding),
    threads: threadsFinding(binding),
    ...trackingFindings(binding),
    copyOnWrite: binding ? support(binding.cowSupport(), 'for regions of 64 MiB and more: the pause is the write-protection, not the copy', 'regions are copied into staging at the safe point') : needsAddon(),
    directIo: directIoFinding(binding, dir),
    hugePages: hugePagesFinding(),
    ...storeFindings(path.resolve(store), dir),
  };
}

function addonFinding(binding: NativeBinding | null, reason: string | null): Finding {
  if (binding) return { available: true, value: 'loaded', detail: `ABI ${binding.abiVersion}, page size ${binding.pageSize} B, vector paths ${binding.simd}` };
  if (process.env.CR_NATIVE === '0') return { available: false, value: 'off', detail: `${reason ?? 'disabled'}: cr uses the portable codec` };
  const log = fs.existsSync(INSTALL_LOG) ? `; the build's output is in ${INSTALL_LOG}` : '';
  const rebuild = `to build it (a C++ compiler and Python 3): "npm rebuild ${PACKAGE_NAME}" in your project, "npm run build" in a checkout of cr`;
  return { available: false, value: 'not loaded', detail: `${reason ?? 'unknown reason'}${log}; ${rebuild}` };
}

/** The native zstd when the addon loads; the portable codec is loaded for real either way (the fallback). */
async function zstdFinding(binding: NativeBinding | null): Promise<Finding> {
  let portableError: string | null = null;
  try {
    await getPortableCodec();
  } catch (err) {
    portableError = (err as Error).message.split('\n')[0] ?? String(err);
  }
  const portable = portableError === null ? 'loads' : `does not load: ${portableError}`;
  if (binding) return { available: true, value: 'native', detail: `zstd ${binding.zstdVersion} on the addon's threads; the portable codec (WebAssembly) ${portable}` };
  return { available: portableError === null, value: 'portable', detail: `WebAssembly zstd on one thread, slower than the addon; it ${portable}` };
}

function threadsFinding(binding: NativeBinding | null): Finding {
  const cpus = os.availableParallelism();
  if (!binding) return { available: false, value: '1', detail: `the portable codec runs on one thread (${cpus} CPUs here)` };
  const set = process.env.CR_THREADS ? ` (CR_THREADS=${process.env.CR_THREADS})` : '';
  return { available: true, value: String(binding.threads), detail: `the addon's encode/decode pool${set}; ${cpus} CPUs here` };
}

/**
 * The addon probes dirty tracking in order: userfaultfd in full mode, its asynchronous
 * write-protection, then PAGEMAP_SCAN on a written page. Its reason says which step failed, so
 * a failure past the first two means both were there.
 */
function trackingFindings(binding: NativeBinding | null): Pick<DoctorReport, 'writeProtect' | 'pagemapScan'> {
  const kernel = `Linux ${os.release()}`;
  if (!binding) return { writeProtect: needsAddon(), pagemapScan: needsAddon() };
  const { available, reason } = binding.dirtyTrackingSupport();
  const without = 'incremental images compare block hashes instead';
  if (available) {
    return {
      writeProtect: { available: true, value: 'yes', detail: 'asynchronous write-protection of regions' },
      pagemapScan: { available: true, value: 'yes', detail: 'incremental images find changed blocks by the kernel\'s dirty-page tracking' },
    };
  }
  const why = reason ?? 'unknown reason';
  if (/pagemap/i.test(why)) {
    return {
      writeProtect: { available: true, value: 'yes', detail: 'asynchronous write-protection of regions' },
      pagemapScan: { available: false, value: 'no', detail: `${why} (${kernel}; needs 6.7); ${without}` },
    };
  }
  const hint = /EPERM|permission|not permitted/i.test(why) ? unprivilegedHint() : '';
  return {
    writeProtect: { available: false, value: 'no', detail: `${why}${hint} (${kernel}); ${without}` },
    pagemapScan: { available: false, value: 'not probed', detail: 'dirty tracking needs userfaultfd write-protection first' },
  };
}

/** Whether an unprivileged process may open userfaultfd in full mode (the sysctl, when readable). */
function unprivilegedHint(): string {
  try {
    const value = fs.readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'utf8').trim();
    return value === '0' ? '; vm.unprivileged_userfaultfd is 0: full mode needs root or CAP_SYS_PTRACE' : '';
  } catch {
    return '';
  }
}

function support(probe: { available: boolean; reason: string | null }, yes: string, no: string): Finding {
  if (probe.available) return { available: true, value: 'yes', detail: yes };
  const hint = /EPERM|permission|not permitted/i.test(probe.reason ?? '') ? unprivilegedHint() : '';
  return { available: false, value: 'no', detail: `${probe.reason ?? 'unknown reason'}${hint}; ${no}` };
}

function needsAddon(): Finding {
  return { available: false, value: 'no', detail: 'needs the native addon' };
}

/**
 * A real O_DIRECT write of one aligned page into a temporary file in the store's directory (its
 * nearest existing ancestor before the first run), removed at once. cr writes images this way
 * only with the addon, whose page-aligned memory O_DIRECT needs.
 */
function directIoFinding(binding: NativeBinding | null, dir: string): Finding {
  const O_DIRECT = fs.constants.O_DIRECT;
  if (O_DIRECT === undefined) return { available: false, value: 'no', detail: `${os.platform()} has no O_DIRECT; images are written through the page cache` };
  if (!binding) return needsAddon();
  const file = path.join(dir, `.cr-doctor-${process.pid}-${randomUUID()}.tmp`);
  let fd: number | undefined;
  const page = binding.allocRegion(4096);
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_DIRECT, 0o600);
    fs.writeSync(fd, new Uint8Array(page), 0, 4096, 0);
    return { available: true, value: 'yes', detail: `images are written with O_DIRECT from aligned staging (checked in ${dir})` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'EINVAL' ? `the file system of ${dir} refuses O_DIRECT (EINVAL)` : `cannot write in ${dir}: ${e.message}`;
    return { available: false, value: 'no', detail: `${what}; images are written through the page cache` };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    binding.freeRegion(page);
  }
}

function hugePagesFinding(): Finding {
  const file = '/sys/kernel/mm/transparent_hugepage/enabled';
  let setting: string;
  try {
    setting = /\[(\w+)\]/.exec(fs.readFileSync(file, 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return { available: false, value: 'no', detail: `no transparent huge pages here (${file} cannot be read)` };
  }
  if (setting === 'never') return { available: false, value: 'no', detail: `transparent huge pages are off (${file}: never): regions use 4 KiB pages, restores touch memory slower` };
  const how = setting === 'madvise' ? 'on request (madvise), and regions ask for them' : setting;
  return { available: true, value: 'yes', detail: `transparent huge pages ${how}: faster first touch of large regions` };
}

function storeFindings(store: string, dir: string): Pick<DoctorReport, 'storeFilesystem' | 'storeSpace'> {
  const where = dir === store ? store : `${dir} (the store does not exist yet)`;
  const mount = mountOf(fs.realpathSync(dir));
  const storeFilesystem: Finding = mount
    ? { available: true, value: mount.type, detail: `${where}, mounted on ${mount.point} from ${mount.source}` }
    : { available: true, value: 'unknown', detail: `${where} (no /proc/self/mountinfo here)` };
  if (mount && ['nfs', 'nfs4', 'cifs', 'smb3', 'fuse.sshfs'].includes(mount.type)) {
    storeFilesystem.detail += '; a network file system: a restart on another machine sees the images, but fsync and rename are only as durable as the server makes them';
  }
  if (mount && ['tmpfs', 'ramfs'].includes(mount.type)) {
    storeFilesystem.available = false;
    storeFilesystem.detail += '; in memory: images do not survive a reboot';
  }
  const stats = fs.statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  const total = stats.blocks * stats.bsize;
  const storeSpace: Finding = { available: free > 0, value: formatBytes(free), detail: `free for this user, of ${formatBytes(total)}` };
  return { storeFilesystem, storeSpace };
}

/** The mount holding `file`: the longest mount point that is a prefix of it (Linux). */
function mountOf(file: string): { point: string; type: string; source: string } | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  let best: { point: string; type: string; source: string } | null = null;
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields] - type source superoptions
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const point = unescapeMount(left.split(' ')[4] ?? '');
    const [type = '', source = ''] = right.split(' ');
    const inside = point === '/' || file === point || file.startsWith(`${point}/`);
    if (inside && (!best || point.length >= best.point.length)) best = { point, type, source: unescapeMount(source) };
  }
  return best;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function existingAncestor(dir: string): string {
  let at = dir;
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}
