import { fmt } from "./nets.ts";

/**
 * E0512: what to change in a net whose output feeds a net that expects another shape (a generator's
 * [14, 14, 1] against [28, 28, 1] data): the concrete edit at its last layers.
 */
export function outputFix(got: readonly number[], want: readonly number[]): string {
  if (got.length === 3 && want.length === 3) {
    const [gh, gw, gc] = got as [number, number, number];
    const [wh, ww, wc] = want as [number, number, number];
    const parts: string[] = [];
    if (gh !== wh || gw !== ww) {
      const r = wh / gh;
      const k = Math.log2(r);
      if (r === ww / gw && Number.isInteger(k) && k > 0) parts.push(`add ${k === 1 ? "an upsampling layer" : `${k} upsampling layers`} (deconv ... stride=2, or upsample 2) to go from ${gh}x${gw} to ${wh}x${ww}`);
      else if (r === ww / gw && Number.isInteger(-k) && k < 0) parts.push(`remove ${-k === 1 ? "an upsampling layer" : `${-k} upsampling layers`} (a stride-2 deconv or an upsample) to go from ${gh}x${gw} to ${wh}x${ww}`);
      else parts.push(`make the image ${wh}x${ww} (it is ${gh}x${gw}): change the reshape or the strides`);
    }
    if (gc !== wc) parts.push(`change the last layer's filters from ${gc} to ${wc}`);
    return parts.join(", and ");
  }
  if (got.length === 1 && want.length === 1) return `change the last dense layer's units from ${got[0]} to ${want[0]}`;
  return `end it with 'reshape ${fmt(want)}' or layers that produce ${fmt(want)}`;
}
