// Types that connect protobuf-es service descriptors to plain async handlers and promise clients
// (after connect-es's ServiceImpl / Client).
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';

export interface HandlerContext {
  /** Aborted when the caller cancels or the deadline passes. */
  signal: AbortSignal;
  /** Request metadata (first value of each key). */
  metadata: Record<string, string>;
  deadline?: Date;
  peer: string;
  /** The caller's mesh identity (its client certificate's CN), already checked against the server's callers. */
  caller: string;
}

export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<O> | MessageShape<O>>;

export type ServerStreamHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: HandlerContext,
) => AsyncIterable<MessageInitShape<O> | MessageShape<O>>;

export type MethodsOf<S> = S extends GenService<infer R> ? R : never;

type HandlerFor<M> = M extends { methodKind: 'unary'; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryHandler<I, O>
  : M extends { methodKind: 'server_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamHandler<I, O>
    : never;

/** Handlers keyed by method localName. Missing methods answer UNIMPLEMENTED (clients see `unavailable`). */
export type ServiceImpl<S extends GenService<GenServiceMethods>> = Partial<{ [K in keyof MethodsOf<S>]: HandlerFor<MethodsOf<S>[K]> }>;

export interface CallOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
  metadata?: Record<string, string>;
}

type ClientMethodFor<M> = M extends { methodKind: 'unary'; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (req: MessageInitShape<I>, opts?: CallOptions) => Promise<MessageShape<O>>
  : M extends { methodKind: 'server_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? (req: MessageInitShape<I>, opts?: CallOptions) => AsyncIterable<MessageShape<O>>
    : never;

export type Client<S extends GenService<GenServiceMethods>> = { [K in keyof MethodsOf<S>]: ClientMethodFor<MethodsOf<S>[K]> } & {
  /** Closes the channel. */
  close(): void;
  /** Resolves when the channel is connected (or rejects after the deadline). */
  waitForReady(deadlineMs?: number): Promise<void>;
};
