export * from './types.js';
export { ParleyConnectError, ParleyHttpError, ParleyRequestError } from './errors.js';
export { ParleyHttp, createAccount, login, refresh, randomUsername, signUp } from './http.js';
export type { HttpResponse } from './http.js';
export { ParleyConnection, connect, reconnectDelayMs } from './connection.js';
export { GapFiller, SeqGaps } from './gaps.js';
export type { GapFillerOptions, HistoryFetch } from './gaps.js';
export type { CloseInfo, ConnectOptions, ServerFrame } from './connection.js';
