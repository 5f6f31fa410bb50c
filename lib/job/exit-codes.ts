/**
 * How the pod programs (engine/pods/configure.ts, publish.ts) tell the engine's planner what went wrong: their exit
 * codes. Both sides depend on this module, so a pod program never imports the engine.
 */

/** Exit codes of the configure program: which part of provisioning failed. */
export const CONFIGURE_EXIT = { dataFailed: 31, algorithmFailed: 32 } as const;

/** Exit codes of the publish program. */
export const PUBLISH_EXIT = { uploadFailed: 1, outputTargetFailed: 3, diskQuotaExceeded: 42 } as const;
