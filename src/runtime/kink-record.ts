/**
 * Where a ReLU kernel is not a kink of the function it helps compute, for the first-iteration trace's record of
 * ReLUs near 0 (trace.ts traceKinks): bce_logits's stable form max(l, 0) - l t + log(1 + exp(-|l|)) is smooth
 * at 0 (the kinks of max(l, 0) and |l| cancel), and PyTorch evaluates it as one kernel with no ReLU in it, so
 * its ReLU is left out of the record. No imports: the functions' runtimes load in the browser too.
 */
let outside = 0;

/** Runs `fn` with the ReLU kernels it evaluates left out of the kink record. */
export function notAKink<T>(fn: () => T): T {
  outside++;
  try {
    return fn();
  } finally {
    outside--;
  }
}

/** True while ReLUs are being recorded (outside every notAKink). */
export function recordingKinks(): boolean {
  return outside === 0;
}
