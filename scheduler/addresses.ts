// Scheduler addresses as --scheduler and CR_SCHEDULER give them: one host:port, or several
// (standby schedulers) comma-separated. Kept apart from the gRPC client, which the CLI loads
// only when a command needs it.

/** `a:7070,b:7070` (the --scheduler flag, CR_SCHEDULER) as a list of distinct addresses, in order. */
export function parseSchedulerAddresses(value: string): string[] {
  const addresses = value.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  if (addresses.length === 0) throw new TypeError(`--scheduler "${value}" names no scheduler: give host:port, or several as host:port,host:port`);
  for (const a of addresses) {
    if (!a.startsWith('unix:') && !/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/]+):\d{1,5}$/.test(a)) throw new TypeError(`--scheduler: "${a}" is not host:port (several schedulers are given as host:port,host:port)`);
  }
  return [...new Set(addresses)];
}
