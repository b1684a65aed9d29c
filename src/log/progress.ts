/**
 * Transfer progress as events. The CLI renders them as live terminal lines or
 * as periodic log lines; the core only reports bytes.
 */
export interface TransferProgress {
  /** Bytes moved since the last call. */
  advance(bytes: number): void;
  /** Total size, once known. */
  setTotal(total: number | undefined): void;
  done(): void;
}

export interface ProgressReporter {
  start(label: string, total?: number): TransferProgress;
}

export const noProgress: ProgressReporter = {
  start: () => ({ advance() {}, setTotal() {}, done() {} }),
};
