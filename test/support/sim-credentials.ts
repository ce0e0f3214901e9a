// How code under test signs in to a running simulator: its first credential, as Amigo client
// settings and as the AMIGO_* variables (the CLI's environment, the deployed secret's keys). Tests
// and benchmarks (bench/) take them from here rather than spelling them out again.
import type { RunningSimulator } from '../../sim/index.ts';

/** The Amigo client settings that sign in to `sim`; the rest of the configuration is the caller's. */
export interface SimulatorSignIn {
  readonly baseUrl: string;
  readonly organizationId: string;
  readonly apiKey: string;
  readonly apiKeyId: string;
  readonly userId: string;
}

export function simulatorSignIn(sim: RunningSimulator): SimulatorSignIn {
  return {
    baseUrl: sim.url,
    organizationId: sim.organizationId,
    apiKey: sim.credentials.apiKey,
    apiKeyId: sim.credentials.apiKeyId,
    userId: sim.credentials.userId,
  };
}

/** The same sign-in as the AMIGO_* variables the CLI reads and the Amigo secret holds. */
export function simulatorAmigoEnv(sim: RunningSimulator) {
  const signIn = simulatorSignIn(sim);
  return {
    AMIGO_BASE_URL: signIn.baseUrl,
    AMIGO_ORGANIZATION_ID: signIn.organizationId,
    AMIGO_API_KEY: signIn.apiKey,
    AMIGO_API_KEY_ID: signIn.apiKeyId,
    AMIGO_USER_ID: signIn.userId,
  };
}
