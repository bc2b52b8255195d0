// cr-scheduler's command line (run by cli.ts): flags, then CR_* environment variables, then defaults.
import { Command, CommanderError } from 'commander';
import { CrError } from '../src/index.js';
import { VERSION } from '../src/internal.js';
import { BundleError, ClusterError } from './cluster-errors.js';
import { agentCommand } from './commands/agent.js';
import { cancelCommand } from './commands/cancel.js';
import { checkpointCommand } from './commands/checkpoint.js';
import { doctorCommand } from './commands/doctor.js';
import { drainCommand } from './commands/drain.js';
import { imageCommand } from './commands/image.js';
import { imagesCommand } from './commands/images.js';
import { initCommand } from './commands/init.js';
import { listCommand } from './commands/list.js';
import { logsCommand } from './commands/logs.js';
import { nodeCommand } from './commands/node.js';
import { nodesCommand } from './commands/nodes.js';
import { reportCommand } from './commands/report.js';
import { resultCommand } from './commands/result.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { tokenCommand } from './commands/token.js';
import { submitCommand } from './commands/submit.js';
import { runCommand } from './commands/run.js';
import { slurmCommand } from './commands/slurm.js';
import { oneLine, reportError, UsageError } from './output.js';

const program = new Command('cr-scheduler')
  .description('checkpoint/restart for long-running compute jobs')
  .version(VERSION)
  .option('-v, --verbose', 'more detail, and stack traces with errors')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();
const verbose = (): boolean => program.opts<{ verbose?: boolean }>().verbose === true;
// grpc-js names the scheduler's host as the TLS server name, and Node warns (DEP0123) when that
// is an IP address (`--scheduler 10.0.0.5:7070 --ca …`): the name is not sent, the certificate
// is still checked against the address. Not the user's to act on, so not printed; every other
// warning is, as Node prints it.
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string }) => {
  if (warning.code === 'DEP0123' && !verbose()) return;
  process.stderr.write(`(node:${process.pid}) ${warning.code ? `[${warning.code}] ` : ''}${warning.name}: ${warning.message}\n`);
});
program.addCommand(runCommand(verbose).exitOverride());
program.addCommand(imageCommand().exitOverride());
program.addCommand(reportCommand().exitOverride());
for (const command of [
  initCommand(),
  doctorCommand(),
  serveCommand(),
  agentCommand(),
  submitCommand(),
  statusCommand(),
  listCommand(),
  nodesCommand(),
  nodeCommand(),
  logsCommand(),
  resultCommand(),
  cancelCommand(),
  checkpointCommand(),
  drainCommand(),
  imagesCommand(),
  tokenCommand(),
  slurmCommand(),
]) {
  program.addCommand(command.exitOverride());
}
// Commander's own usage errors quote the value given ("argument '...' is invalid"): one line too,
// but for the line of suggestions commander adds itself ("(Did you mean logs?)").
const configure = (command: Command): void => {
  command.configureOutput({ outputError: (text, write) => write(usageLines(text)) });
  command.commands.forEach(configure);
};
configure(program);

function usageLines(text: string): string {
  const suggestion = /\n(\(Did you mean [^\n]*\?\))\n?$/.exec(text);
  if (!suggestion) return oneLine(text);
  return `${oneLine(text.slice(0, suggestion.index))}\n${oneLine(suggestion[1]!)}\n`;
}

// A reader that goes away (`cr-scheduler logs --json | head`) is not an error of cr's: stop
// writing and end as the pipeline expects, without a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed the message; --help and --version exit 0, usage errors 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    reportError(err, verbose());
    process.exitCode = 2;
  } else {
    reportError(err, verbose() || !(err instanceof CrError || err instanceof ClusterError || err instanceof BundleError || (err as NodeJS.ErrnoException).code !== undefined));
    process.exitCode = 1;
  }
}
