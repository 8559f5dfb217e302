/**
 * The publish path alone: CPU a message of shared/pubsub/google-publisher.ts over the project's
 * own gRPC call (PUBSUB_PUBLISHER=grpc) against the same publisher over @google-cloud/pubsub's
 * generated client (=client), in interleaved rounds, each in a fresh process on core 0
 * publishing to the official emulator on core 1 from 50 closed loops (the bridge's 50
 * connections, without the bridge). A diagnostic for `bridge-emulator`, whose req/s also
 * carries the bridge's own work and the noise of two HTTP servers.
 *
 *   npm run bench -- publisher [--quick]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startPubsubEmulator } from '../test/support/pubsub-emulator.ts';
import { describeMachine, median, roundFigure, writeResult, type ResultRow } from './lib/report.ts';

const run = promisify(execFile);
const PROJECT = 'bench-publisher';

export interface PublisherBenchOptions {
  messages: number;
  rounds: number;
  concurrency: number;
}

interface RoundFigures {
  cpuUsPerMessage: number;
  messagesPerSec: number;
}

export async function runPublisherBench(options: PublisherBenchOptions): Promise<void> {
  const emulator = await startPubsubEmulator({ cpu: 1 });
  try {
    await emulator.createTopic(PROJECT, 'telemetry');
    const transports = ['client', 'grpc'] as const;
    const rounds = new Map<string, RoundFigures[]>(transports.map((t) => [t, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const transport of transports) {
        const { stdout } = await run(
          'taskset',
          [
            '-c',
            '0',
            process.execPath,
            'bench/servers/publish-load.ts',
            transport,
            emulator.host,
            PROJECT,
            String(options.messages),
            String(options.concurrency),
          ],
          { timeout: 300_000 },
        );
        const figures = JSON.parse(stdout.trim().split('\n').at(-1) as string) as RoundFigures;
        rounds.get(transport)?.push(figures);
        console.log(`round ${round} ${transport}: ${roundFigure(figures.cpuUsPerMessage)} µs CPU a message, ${Math.round(figures.messagesPerSec)} messages/s`);
      }
    }
    const row = (transport: (typeof transports)[number], subject: string, role: ResultRow['role']): ResultRow => {
      const measured = rounds.get(transport) ?? [];
      return {
        subject,
        role,
        figures: {
          cpuUsPerMessage: roundFigure(median(measured.map((r) => r.cpuUsPerMessage))),
          messagesPerSec: Math.round(median(measured.map((r) => r.messagesPerSec))),
        },
      };
    };
    const client = row('client', "publisher over @google-cloud/pubsub's client (PUBSUB_PUBLISHER=client)", 'baseline');
    const grpc = row('grpc', "publisher over the project's own gRPC call (PUBSUB_PUBLISHER=grpc)", 'project');
    const ratio = (grpc.figures.cpuUsPerMessage ?? NaN) / (client.figures.cpuUsPerMessage ?? NaN);
    grpc.figures.cpuRatioToBaseline = roundFigure(ratio);
    writeResult({
      name: 'publisher',
      title: 'The publish path alone: CPU a message, 50 closed loops → official emulator',
      measuredAt: new Date().toISOString(),
      machine: describeMachine(),
      setup: { messages: options.messages, rounds: options.rounds, concurrency: options.concurrency, emulator: 'core 1; publisher process on core 0' },
      rows: [client, grpc],
      targets: [],
      notes: [
        'CPU is the whole publishing process (user + system, every thread), over the measured messages after a warm-up of 5,000; medians of the rounds, which interleave the two.',
        'No target of its own: it explains the bridge-emulator figures.',
      ],
    });
  } finally {
    emulator.stop();
  }
}
