// The CLI's connection to the scheduler: a scheduler that does not run and one that runs but does
// not answer in time get different messages, each saying what to do.
import net from 'node:net';
import test from 'ava';
import { Cluster, ClusterError } from '../../scheduler/client.js';

test('A call to a scheduler that accepts the connection but does not answer in time says it did not answer, not that it cannot be reached.', async (t) => {
  // A listener that takes connections and never speaks: a scheduler too busy to answer.
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket.on('error', () => undefined)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const cluster = new Cluster(address);
  t.teardown(() => cluster.close());
  const error = await t.throwsAsync(cluster.call('ListJobs', { states: [] }, 500), { instanceOf: ClusterError });
  t.is(error?.message, `the scheduler at ${address} did not answer within 0.5 s: it may be overloaded; try again (set --scheduler or CR_SCHEDULER if the address is wrong)`);
});

test('A call to an address where nothing listens says the scheduler cannot be reached, at once rather than at the deadline.', async (t) => {
  const cluster = new Cluster('127.0.0.1:1'); // nothing listens on port 1
  t.teardown(() => cluster.close());
  // A deadline of an hour: were a refused connection waited out, ava's timeout would fail the test.
  const error = await t.throwsAsync(cluster.call('ListJobs', { states: [] }, 3_600_000), { instanceOf: ClusterError });
  t.regex(error!.message, /^cannot reach the scheduler at 127\.0\.0\.1:1: is "cr-scheduler serve" running\?/);
});
