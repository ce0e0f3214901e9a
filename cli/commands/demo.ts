// `amigo-qa demo` (what `npm start` runs): starts the simulator with a seeded organisation and
// drives the real client against it over HTTP, printing what it found. Later issues grow this into
// the whole nightly pipeline on embedded S3/SQS.
import type { Command } from 'commander';
import { createAmigoClient } from '../../shared/amigo/index.ts';
import { startSimulator } from '../../sim/index.ts';

export interface DemoOptions {
  seed: number;
  conversations: number;
}

export async function runDemo(
  options: DemoOptions,
  out: (line: string) => void = console.log,
): Promise<void> {
  const sim = await startSimulator({
    seed: options.seed,
    conversations: options.conversations,
    audio: { largeRecordings: 0 },
  });
  try {
    out(`Amigo simulator listening on ${sim.url} (organization ${sim.organizationId}, seed ${options.seed})`);
    const client = createAmigoClient({
      baseUrl: sim.url,
      organizationId: sim.organizationId,
      apiKey: sim.credentials.apiKey,
      apiKeyId: sim.credentials.apiKeyId,
      userId: sim.credentials.userId,
    });
    const started = performance.now();
    let finished = 0;
    let first: { id: string; num_messages: number } | undefined;
    for await (const conversation of client.conversations({ is_finished: true, sort_by: ['-created_at'] })) {
      finished++;
      first ??= conversation;
    }
    out(`Finished conversations: ${finished}`);
    if (first) {
      let messages = 0;
      let voice: { id: string } | undefined;
      const interactions = new Set<string>();
      for await (const message of client.messages(first.id, {
        message_type: ['user-message', 'agent-message'],
      })) {
        messages++;
        if (message.message_type === 'agent-message') interactions.add(message.interaction_id);
        if (message.format === 'voice') voice ??= message;
      }
      out(
        `Newest finished conversation ${first.id}: ${messages} user/agent messages of ${first.num_messages} in all`,
      );
      const [interaction] = interactions;
      if (interaction) {
        const insights = await client.getInteractionInsights(first.id, interaction);
        out(
          `  interaction ${interaction}: state "${insights.current_state_name}", ${insights.state_transition_logs.length} state transitions`,
        );
      }
      if (voice) {
        const audio = await client.downloadMessageSource(first.id, voice.id);
        let bytes = 0;
        for await (const chunk of audio.stream) bytes += (chunk as Buffer).byteLength;
        out(`  voice message ${voice.id}: ${bytes} bytes of ${audio.contentType}`);
      }
    }
    const calls = sim.control.stats().calls;
    const summary = Object.entries(calls)
      .map(
        ([op, byStatus]) =>
          `${op} ${Object.entries(byStatus)
            .map(([s, n]) => `${s}x${n}`)
            .join(' ')}`,
      )
      .join('; ');
    out(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s. Calls: ${summary}`);
  } finally {
    await sim.stop();
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Start the Amigo simulator and run the client against it (what `npm start` does)')
    .option('--seed <n>', 'simulator seed', (v) => Number.parseInt(v, 10), 7)
    .option(
      '--conversations <n>',
      'conversations in the simulated organisation',
      (v) => Number.parseInt(v, 10),
      30,
    )
    .action(async (opts: DemoOptions) => {
      await runDemo(opts);
    });
}
