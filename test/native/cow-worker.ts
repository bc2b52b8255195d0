// Runs cowRounds (cow-rounds.ts) in a worker_threads Worker: a job's thread is one.
import { parentPort, workerData } from 'node:worker_threads';
import { loadNative } from '../../src/native/binding.js';
import { cowRounds, type CowRoundsOptions } from './cow-rounds.js';

const { binding } = loadNative();
parentPort!.postMessage(cowRounds(binding!, workerData as CowRoundsOptions));
