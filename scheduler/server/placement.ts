// Placement: which queued job goes to which node. Pure, so that it is tested directly.
// Jobs arrive in placement order (priority, then submission); each goes to the node with the
// most free slots (ties: by name), which spreads work instead of filling one node first.

export interface Placement {
  job: number;
  node: string;
}

export function place(queued: readonly { id: number }[], freeSlots: ReadonlyMap<string, number>): Placement[] {
  const free = [...freeSlots].filter(([, n]) => n > 0).map(([node, n]) => ({ node, n }));
  const placements: Placement[] = [];
  for (const job of queued) {
    let best: { node: string; n: number } | null = null;
    for (const f of free) if (f.n > 0 && (best === null || f.n > best.n || (f.n === best.n && f.node < best.node))) best = f;
    if (best === null) break;
    best.n--;
    placements.push({ job: job.id, node: best.node });
  }
  return placements;
}
