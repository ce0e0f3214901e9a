// Inside a Lambda bundle this module stands in for `@aws-sdk/credential-provider-node` (the stack
// aliases it: infra/constructs/amigo-function.ts). Lambda always puts the execution role's
// credentials into the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
// which is the first source the SDK's default chain tries; the rest of the chain (profiles, SSO,
// web identity, container and instance metadata, with the STS and SSO clients they need) can never
// apply there and would be about 120 KB of every bundle. Outside Lambda nothing imports this file.
import { fromEnv } from '@aws-sdk/credential-provider-env';

type Init = Parameters<typeof fromEnv>[0];

/** The SDK clients' `credentialDefaultProvider`: the environment, as in Lambda. */
export const defaultProvider = (init: Init = {}) => fromEnv(init);
