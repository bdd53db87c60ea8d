import * as tf from "@tensorflow/tfjs";
import { Primitives, type TrainingKernelFunc } from "./primitives.ts";

/**
 * Conv2DBackpropInput (the gradient of conv2d, and the forward pass of conv2dTranspose) as one
 * stride-1 Conv2D on the backend's fast kernel, by sub-pixel decomposition:
 *
 *   dx[i] = sum_{oh,kh : oh*s + kh - padTop = i} dy[oh] W[kh]          (per spatial axis)
 *
 * Writing i + padTop = q*s + r (0 <= r < s), only taps kh = r + m*s contribute, with oh = q - m.
 * So every output phase r is a stride-1 correlation of dy with the flipped sub-filter
 * {W[r + m*s]}; all s*s phases are stacked as output channels of a single conv
 * ([M, M, Cout, sh*sw*Cin] with M = ceil(K/s)), then interleaved back into space
 * (reshape + transpose) and cropped by padTop/padLeft. No zero-dilated input is materialised.
 */
export function makeConv2DBackpropInput(backendName: string, stock?: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    if (format !== "channelsLast") {
      // NCHW is rare in tfjs (wasm's Conv2D cannot even run it): leave it to the stock kernel.
      if (stock) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
      throw new Error(`Conv2DBackpropInput: only NHWC is supported on ${backendName}, got ${dataFormat}`);
    }
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      format,
    );
    const p = new Primitives(backend, backendName);
    const [n, h, w, cin] = inputShape;
    const [kh, kw, , cout] = filter.shape;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    const padTop = info.padInfo.top;
    const padLeft = info.padInfo.left;
    const mh = Math.ceil(kh / sh);
    const mw = Math.ceil(kw / sw);
    // Number of phase-grid rows/columns q needed to cover every dx position.
    const qh = Math.floor((h - 1 + padTop) / sh) + 1;
    const qw = Math.floor((w - 1 + padLeft) / sw) + 1;

    const owned: tf.TensorInfo[] = [];
    try {
      const g = p.write(subPixelFilter(p.read(filter), kh, kw, cin, cout, sh, sw), [mh, mw, cout, sh * sw * cin]);
      owned.push(g);

      // dy rows at or past q (only possible with unusual explicit padding) never reach dx.
      let dyc = dy;
      const [, oh, ow] = dy.shape;
      if (oh > qh || ow > qw) {
        dyc = p.slice(dy, [0, 0, 0, 0], [n, Math.min(oh, qh), Math.min(ow, qw), cout]);
        owned.push(dyc);
      }
      const z = p.conv2d(dyc, g, [mh - 1, qh - dyc.shape[1]], [mw - 1, qw - dyc.shape[2]]); // [N, QH, QW, sh*sw*Cin]
      owned.push(z);

      let full = z; // [N, QH*sh, QW*sw, Cin]
      if (sh > 1 || sw > 1) {
        const z4 = p.reshape(z, [n * qh, qw, sh, sw * cin]);
        owned.push(z4);
        const zT = p.transpose(z4, [0, 2, 1, 3]); // [N*QH, sh, QW, sw*Cin]
        owned.push(zT);
        full = p.reshape(zT, [n, qh * sh, qw * sw, cin]);
        owned.push(full);
      }
      if (padTop === 0 && padLeft === 0 && full.shape[1] === h && full.shape[2] === w) {
        owned.splice(owned.indexOf(full), 1);
        return full;
      }
      return p.slice(full, [0, padTop, padLeft, 0], [n, h, w, cin]);
    } finally {
      p.release(...owned);
    }
  };
}

/**
 * Rearranges a [KH, KW, Cin, Cout] filter into the stacked sub-pixel filter
 * [MH, MW, Cout, sh*sw*Cin]: G[th, tw, co, (rh*sw + rw)*Cin + ci] = W[rh + (MH-1-th)*sh, rw + (MW-1-tw)*sw, ci, co],
 * zero where the tap falls outside the kernel. Done in JS: the filter is small next to the conv.
 */
export function subPixelFilter(
  w: Float32Array,
  kh: number,
  kw: number,
  cin: number,
  cout: number,
  sh: number,
  sw: number,
): Float32Array {
  const mh = Math.ceil(kh / sh);
  const mw = Math.ceil(kw / sw);
  const gc = sh * sw * cin;
  const g = new Float32Array(mh * mw * cout * gc);
  for (let th = 0; th < mh; th++) {
    for (let tw = 0; tw < mw; tw++) {
      for (let rh = 0; rh < sh; rh++) {
        const y = rh + (mh - 1 - th) * sh;
        if (y >= kh) continue;
        for (let rw = 0; rw < sw; rw++) {
          const x = rw + (mw - 1 - tw) * sw;
          if (x >= kw) continue;
          const gBase = (th * mw + tw) * cout * gc + (rh * sw + rw) * cin;
          const wBase = (y * kw + x) * cin * cout;
          for (let ci = 0; ci < cin; ci++) {
            const wRow = wBase + ci * cout;
            for (let co = 0; co < cout; co++) g[gBase + co * gc + ci] = w[wRow + co];
          }
        }
      }
    }
  }
  return g;
}
