/** What generated trainers import: everything shared between them. */
export * from "./ops.ts";
export { avgPool, upsampleBilinear } from "./resample.ts";
export * as fused from "./fused/index.ts";
export { Run, TrainingError, trainerCommand, loadData, initValues, type Batch, type SpecInfo, type Init, type RunOptions } from "./session.ts";
export { selectBackend, BackendError, type BackendChoice, type BackendInfo } from "./backend.ts";
export { loadEmbeddedMnist, loadIdxDir, toyDataset, toyModes, oneHot, BatchIterator, DataError, type Dataset } from "./data.ts";
export { encodeImageGrid, encodeScatter, writePng } from "./png.ts";
export { Rng } from "./rng.ts";
export { saveCheckpoint, loadCheckpoint, loadLatestCheckpoint, listCheckpoints, CheckpointError } from "./checkpoint.ts";
export { SummaryWriter } from "./tensorboard.ts";
export { writeFileAtomic } from "./fsutil.ts";
export { runIfMain, runMain, reportError } from "./main.ts";
