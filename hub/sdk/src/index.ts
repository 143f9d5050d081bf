// @edgeio/client: a typed client for the edgeio chat server (docs/sdk.md).
export { EdgeioClient } from "./client.js";
export type { CallOptions, ConnectInfo, EdgeioClientOptions, EdgeioEvents, LifecycleEvents } from "./client.js";
export { EdgeioError } from "./errors.js";
export type { ClientErrorCode, ErrorCode, ServerErrorCode } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { newClientMsgId } from "./ids.js";
export type * from "./events.js";
