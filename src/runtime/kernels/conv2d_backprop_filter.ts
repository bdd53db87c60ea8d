import * as tf from "@tensorflow/tfjs";
import { Primitives, type TrainingKernelFunc } from "./primitives.ts";

/**
 * Conv2DBackpropFilter as one dilated stride-1 Conv2D, so it runs on the backend's fast Conv2D
 * (XNNPACK on wasm, which has no native Conv2DBackpropFilter at all).
 *
 *   dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, oh*sh + kh - padTop, ow*sw + kw - padLeft, ci] * dy[n,oh,ow,co]
 *
 * Reading ci as the batch, n as the input channel and dy as an (OH x OW) filter dilated by the
 * forward stride, that sum is conv2d(x^T [Cin,H,W,N], dy^T [OH,OW,N,Cout]) -> [Cin,KH,KW,Cout].
 */
export function makeConv2DBackpropFilter(backendName: string, stock?: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    if (format !== "channelsLast") {
      // NCHW is rare in tfjs (wasm's Conv2D cannot even run it): leave it to the stock kernel.
      if (stock) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
      throw new Error(`Conv2DBackpropFilter: only NHWC is supported on ${backendName}, got ${dataFormat}`);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      format,
    );
    const p = new Primitives(backend, backendName);
    const [n, h, w, cin] = x.shape;

    // Bottom/right padding that makes the output exactly KH x KW. It is negative when the
    // forward conv never read the last rows/columns (e.g. 'valid' with a stride that does not
    // divide evenly); those are cropped off instead.
    const padBottom = info.filterHeight + (info.outHeight - 1) * info.strideHeight - h - info.padInfo.top;
    const padRight = info.filterWidth + (info.outWidth - 1) * info.strideWidth - w - info.padInfo.left;
    const hUsed = h + Math.min(padBottom, 0);
    const wUsed = w + Math.min(padRight, 0);

    const owned: tf.TensorInfo[] = [];
    try {
      let xc = x;
      if (hUsed !== h || wUsed !== w) {
        xc = p.slice(x, [0, 0, 0, 0], [n, hUsed, wUsed, cin]);
        owned.push(xc);
      }
      const xT = p.transpose(xc, [3, 1, 2, 0]); // [Cin, H, W, N]
      owned.push(xT);
      const dyT = p.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, Cout]
      owned.push(dyT);
      const dwT = p.conv2d(
        xT,
        dyT,
        [info.padInfo.top, Math.max(padBottom, 0)],
        [info.padInfo.left, Math.max(padRight, 0)],
        [info.strideHeight, info.strideWidth],
      ); // [Cin, KH, KW, Cout]
      owned.push(dwT);
      return p.transpose(dwT, [1, 2, 0, 3]);
    } finally {
      p.release(...owned);
    }
  };
}
