;; ganc's own wasm kernels. They run on the wasm heap of tfjs-backend-wasm (its memory is imported),
;; so they read and write tensors in place of a chain of stock kernels. Every operation is an IEEE
;; float32 operation (f32x4 lanes are exact per lane), done in the order the stock kernels would do
;; them, so each kernel gives bit for bit what the chain of tfjs ops it replaces gives.
;;
;; Regenerate src/runtime/kernels/wasm/ganc.wasm.ts after editing: npm run build:wasm
(module
  (import "env" "memory" (memory 0))

  ;; Adam, as tfjs's AdamOptimizer.applyGradients computes it per element:
  ;;   m' = m*b1 + g*c1        v' = v*b2 + (g*g)*c2
  ;;   w' = ((m' / oma1) / (sqrt(v' / oma2) + eps)) * nlr + w
  ;; with c1 = 1-beta1, c2 = 1-beta2, omaK = 1 - betaK^t, nlr = -learning rate (all float32).
  ;; g, m, v, w: inputs; mo, vo, wo: outputs (byte offsets); n: elements.
  (func (export "adam")
    (param $g i32) (param $m i32) (param $v i32) (param $w i32)
    (param $mo i32) (param $vo i32) (param $wo i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $oma1 f32) (param $oma2 f32) (param $eps f32) (param $nlr f32)
    (local $i i32) (local $end4 i32) (local $at i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $done4
      (loop $vec
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $at))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $at))) (f32x4.splat (local.get $b1)))
            (f32x4.mul (local.get $gv) (f32x4.splat (local.get $c1)))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $at))) (f32x4.splat (local.get $b2)))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $c2)))))
        (v128.store (i32.add (local.get $mo) (local.get $at)) (local.get $mv))
        (v128.store (i32.add (local.get $vo) (local.get $at)) (local.get $vv))
        (v128.store (i32.add (local.get $wo) (local.get $at))
          (f32x4.add
            (f32x4.mul
              (f32x4.div
                (f32x4.div (local.get $mv) (f32x4.splat (local.get $oma1)))
                (f32x4.add
                  (f32x4.sqrt (f32x4.div (local.get $vv) (f32x4.splat (local.get $oma2))))
                  (f32x4.splat (local.get $eps))))
              (f32x4.splat (local.get $nlr)))
            (v128.load (i32.add (local.get $w) (local.get $at)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $at))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $at))) (local.get $b1))
            (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $at))) (local.get $b2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $mo) (local.get $at)) (local.get $ms))
        (f32.store (i32.add (local.get $vo) (local.get $at)) (local.get $vs))
        (f32.store (i32.add (local.get $wo) (local.get $at))
          (f32.add
            (f32.mul
              (f32.div
                (f32.div (local.get $ms) (local.get $oma1))
                (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $oma2))) (local.get $eps)))
              (local.get $nlr))
            (f32.load (i32.add (local.get $w) (local.get $at)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; The per-channel factors of batch norm's backward pass, as tfjs's FusedBatchNorm gradient computes
  ;; them: r = rsqrt(v + eps) (tfjs-backend-wasm's Rsqrt is 1 / sqrt(x), two roundings) and
  ;; mh = ((r*r)*r) * -0.5. v: input; r, mh: outputs; n elements.
  (func (export "bn_factors")
    (param $v i32) (param $r i32) (param $mh i32) (param $n i32) (param $eps f32)
    (local $i i32) (local $end4 i32) (local $at i32) (local $rv v128) (local $rs f32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $done4
      (loop $vec
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $rv
          (f32x4.div (f32x4.splat (f32.const 1))
            (f32x4.sqrt (f32x4.add (v128.load (i32.add (local.get $v) (local.get $at))) (f32x4.splat (local.get $eps))))))
        (v128.store (i32.add (local.get $r) (local.get $at)) (local.get $rv))
        (v128.store (i32.add (local.get $mh) (local.get $at))
          (f32x4.mul (f32x4.mul (f32x4.mul (local.get $rv) (local.get $rv)) (local.get $rv)) (f32x4.splat (f32.const -0.5))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $rs
          (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.load (i32.add (local.get $v) (local.get $at))) (local.get $eps)))))
        (f32.store (i32.add (local.get $r) (local.get $at)) (local.get $rs))
        (f32.store (i32.add (local.get $mh) (local.get $at))
          (f32.mul (f32.mul (f32.mul (local.get $rs) (local.get $rs)) (local.get $rs)) (f32.const -0.5)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; Moving averages of batch norm: b = batch * omd, then `times` times next = next * decay + b,
  ;; starting from moving (omd = 1 - decay, in float32). moving, batch: inputs; out: output.
  (func (export "moving_average")
    (param $moving i32) (param $batch i32) (param $out i32) (param $n i32)
    (param $decay f32) (param $omd f32) (param $times i32)
    (local $i i32) (local $end4 i32) (local $at i32) (local $t i32)
    (local $bv v128) (local $xv v128) (local $bs f32) (local $xs f32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $done4
      (loop $vec
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $bv (f32x4.mul (v128.load (i32.add (local.get $batch) (local.get $at))) (f32x4.splat (local.get $omd))))
        (local.set $xv (v128.load (i32.add (local.get $moving) (local.get $at))))
        (local.set $t (i32.const 0))
        (block $rep_done
          (loop $rep
            (br_if $rep_done (i32.ge_u (local.get $t) (local.get $times)))
            (local.set $xv (f32x4.add (f32x4.mul (local.get $xv) (f32x4.splat (local.get $decay))) (local.get $bv)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $rep)))
        (v128.store (i32.add (local.get $out) (local.get $at)) (local.get $xv))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $bs (f32.mul (f32.load (i32.add (local.get $batch) (local.get $at))) (local.get $omd)))
        (local.set $xs (f32.load (i32.add (local.get $moving) (local.get $at))))
        (local.set $t (i32.const 0))
        (block $rep_done
          (loop $rep
            (br_if $rep_done (i32.ge_u (local.get $t) (local.get $times)))
            (local.set $xs (f32.add (f32.mul (local.get $xs) (local.get $decay)) (local.get $bs)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $rep)))
        (f32.store (i32.add (local.get $out) (local.get $at)) (local.get $xs))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; Sum over the rows of x [rows, cols] (row-major): out[c] = ((0 + x[0,c]) + x[1,c]) + ..., each
  ;; column summed in row order as tfjs-backend-wasm's Sum does after transposing the column to the
  ;; inner axis, so the result is the same bit for bit; here without the transpose, 4 columns a lane.
  (func (export "column_sum")
    (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $row i32) (local $at i32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (memory.fill (local.get $out) (i32.const 0) (i32.shl (local.get $cols) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (i32.add (local.get $out) (local.get $at))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $at))) (v128.load (i32.add (local.get $row) (local.get $at)))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (f32.store (i32.add (local.get $out) (local.get $at))
              (f32.add (f32.load (i32.add (local.get $out) (local.get $at))) (f32.load (i32.add (local.get $row) (local.get $at)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Batch norm's forward pass, bit for bit tfjs-backend-wasm's FusedBatchNorm: for x [rows, cols] and the
  ;; per-channel values at $params (mean f32[cols], scale f32[cols], then nf f64[cols] = sqrt(var + eps)
  ;; rounded to float32, offset f64[cols]), out = float32(offset + float32((x - mean) * scale) / nf), the
  ;; quotient and the sum in float64 as the stock kernel computes them (its factors are doubles). 4 lanes in
  ;; float32, 2 and 2 in float64, the last cols % 4 channels one at a time. With $relu, each result then goes
  ;; through the stock Relu as tfjs-backend-wasm computes it: 0 where the sign bit is set (-0, negatives and
  ;; NaNs with the sign bit), the value's bits unchanged otherwise.
  (func (export "batch_norm")
    (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $params i32) (param $relu i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $xrow i32) (local $orow i32)
    (local $m i32) (local $s i32) (local $nf i32) (local $off i32) (local $p v128) (local $pd f64) (local $y v128) (local $ys f32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $m (local.get $params))
    (local.set $s (i32.add (local.get $params) (i32.shl (local.get $cols) (i32.const 2))))
    (local.set $nf (i32.add (local.get $params) (i32.shl (local.get $cols) (i32.const 3))))
    (local.set $off (i32.add (local.get $params) (i32.shl (local.get $cols) (i32.const 4))))
    (local.set $xrow (local.get $x))
    (local.set $orow (local.get $out))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $p (f32x4.mul
              (f32x4.sub (v128.load (i32.add (local.get $xrow) (i32.shl (local.get $c) (i32.const 2))))
                         (v128.load (i32.add (local.get $m) (i32.shl (local.get $c) (i32.const 2)))))
              (v128.load (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2))))))
            (local.set $y
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (f64x2.add
                  (v128.load (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 3))))
                  (f64x2.div (f64x2.promote_low_f32x4 (local.get $p))
                             (v128.load (i32.add (local.get $nf) (i32.shl (local.get $c) (i32.const 3)))))))
                (f32x4.demote_f64x2_zero (f64x2.add
                  (v128.load (i32.add (local.get $off) (i32.add (i32.shl (local.get $c) (i32.const 3)) (i32.const 16))))
                  (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))
                             (v128.load (i32.add (local.get $nf) (i32.add (i32.shl (local.get $c) (i32.const 3)) (i32.const 16)))))))))
            (if (local.get $relu) (then (local.set $y (v128.andnot (local.get $y) (i32x4.shr_s (local.get $y) (i32.const 31))))))
            (v128.store (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 2))) (local.get $y))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $pd (f64.promote_f32 (f32.mul
              (f32.sub (f32.load (i32.add (local.get $xrow) (i32.shl (local.get $c) (i32.const 2))))
                       (f32.load (i32.add (local.get $m) (i32.shl (local.get $c) (i32.const 2)))))
              (f32.load (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2)))))))
            (local.set $ys
              (f32.demote_f64 (f64.add
                (f64.load (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 3))))
                (f64.div (local.get $pd) (f64.load (i32.add (local.get $nf) (i32.shl (local.get $c) (i32.const 3))))))))
            (if (i32.and (local.get $relu) (i32.lt_s (i32.reinterpret_f32 (local.get $ys)) (i32.const 0)))
              (then (local.set $ys (f32.const 0))))
            (f32.store (i32.add (local.get $orow) (i32.shl (local.get $c) (i32.const 2))) (local.get $ys))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $xrow (i32.add (local.get $xrow) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $orow (i32.add (local.get $orow) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; y[r, :] = y[r, :] + bias in place, for y [rows, cols] and bias [cols]: the float32 sums the stock Add
  ;; computes with bias broadcast over the rows, 4 lanes at a time, the last cols % 4 one by one.
  (func (export "bias_add")
    (param $y i32) (param $bias i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $row i32) (local $at i32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $row (local.get $y))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (i32.add (local.get $row) (local.get $at))
              (f32x4.add (v128.load (i32.add (local.get $row) (local.get $at))) (v128.load (i32.add (local.get $bias) (local.get $at)))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (f32.store (i32.add (local.get $row) (local.get $at))
              (f32.add (f32.load (i32.add (local.get $row) (local.get $at))) (f32.load (i32.add (local.get $bias) (local.get $at)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Batch norm's statistics in training, second pass (the first is column_sum for the mean): with xc = x - mean
  ;; per column, sumsq[c] = ((0 + xc[0,c]^2) + xc[1,c]^2) + ..., the float32 Sub and Square of the stock kernels
  ;; summed in column_sum's order, so the variance made from it is tf.moments' bit for bit. xc is not kept: the
  ;; backward pass computes it again from x and the mean (the same float32 Sub, so the same values).
  (func (export "bn_sumsq")
    (param $x i32) (param $mean i32) (param $sumsq i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $rowbytes i32) (local $at i32) (local $v v128) (local $s f32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rowbytes (i32.shl (local.get $cols) (i32.const 2)))
    (memory.fill (local.get $sumsq) (i32.const 0) (local.get $rowbytes))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (local.set $v (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $at))) (v128.load (i32.add (local.get $mean) (local.get $at)))))
            (v128.store (i32.add (local.get $sumsq) (local.get $at))
              (f32x4.add (v128.load (i32.add (local.get $sumsq) (local.get $at))) (f32x4.mul (local.get $v) (local.get $v))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (local.set $s (f32.sub (f32.load (i32.add (local.get $x) (local.get $at))) (f32.load (i32.add (local.get $mean) (local.get $at)))))
            (f32.store (i32.add (local.get $sumsq) (local.get $at))
              (f32.add (f32.load (i32.add (local.get $sumsq) (local.get $at))) (f32.mul (local.get $s) (local.get $s))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $x (i32.add (local.get $x) (local.get $rowbytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Batch norm's backward pass, first pass: the four per-channel sums over the rows of dy and xc = x - mean [rows, cols]
  ;; (r, mh = -0.5 r^3 and gamma per channel at $pc, cols floats each; dyg = dy * gamma, or dy with no gamma),
  ;; each from 0 in row order as column_sum adds them, into $acc (4 * cols floats):
  ;;   dgamma = sum(dy * (xc * r)),  dbeta = sum(dy),  dvar = sum((mh * xc) * dyg),  sum(r * dyg)
  ;; the products of the chain that the fused net ran as separate kernels (src/layers/batchnorm.ts).
  (func (export "bn_grad_sums")
    (param $dy i32) (param $xin i32) (param $mean i32) (param $pc i32) (param $acc i32) (param $rows i32) (param $cols i32) (param $gamma i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $cb i32) (local $rowbytes i32) (local $at i32)
    (local $d v128) (local $x v128) (local $rr v128) (local $g v128)
    (local $ds f32) (local $xs f32) (local $rs f32) (local $gs f32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $cb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $rowbytes (local.get $cb))
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $cb) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (local.set $d (v128.load (i32.add (local.get $dy) (local.get $at))))
            (local.set $x (f32x4.sub (v128.load (i32.add (local.get $xin) (local.get $at))) (v128.load (i32.add (local.get $mean) (local.get $at)))))
            (local.set $rr (v128.load (i32.add (local.get $pc) (local.get $at))))
            (local.set $g (if (result v128) (local.get $gamma)
              (then (f32x4.mul (local.get $d) (v128.load (i32.add (i32.add (local.get $pc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at)))))
              (else (local.get $d))))
            (v128.store (i32.add (local.get $acc) (local.get $at))
              (f32x4.add (v128.load (i32.add (local.get $acc) (local.get $at))) (f32x4.mul (local.get $d) (f32x4.mul (local.get $x) (local.get $rr)))))
            (v128.store (i32.add (i32.add (local.get $acc) (local.get $cb)) (local.get $at))
              (f32x4.add (v128.load (i32.add (i32.add (local.get $acc) (local.get $cb)) (local.get $at))) (local.get $d)))
            (v128.store (i32.add (i32.add (local.get $acc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at))
              (f32x4.add (v128.load (i32.add (i32.add (local.get $acc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at)))
                (f32x4.mul (f32x4.mul (v128.load (i32.add (i32.add (local.get $pc) (local.get $cb)) (local.get $at))) (local.get $x)) (local.get $g))))
            (v128.store (i32.add (i32.add (local.get $acc) (i32.mul (local.get $cb) (i32.const 3))) (local.get $at))
              (f32x4.add (v128.load (i32.add (i32.add (local.get $acc) (i32.mul (local.get $cb) (i32.const 3))) (local.get $at)))
                (f32x4.mul (local.get $rr) (local.get $g))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (local.set $ds (f32.load (i32.add (local.get $dy) (local.get $at))))
            (local.set $xs (f32.sub (f32.load (i32.add (local.get $xin) (local.get $at))) (f32.load (i32.add (local.get $mean) (local.get $at)))))
            (local.set $rs (f32.load (i32.add (local.get $pc) (local.get $at))))
            (local.set $gs (if (result f32) (local.get $gamma)
              (then (f32.mul (local.get $ds) (f32.load (i32.add (i32.add (local.get $pc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at)))))
              (else (local.get $ds))))
            (f32.store (i32.add (local.get $acc) (local.get $at))
              (f32.add (f32.load (i32.add (local.get $acc) (local.get $at))) (f32.mul (local.get $ds) (f32.mul (local.get $xs) (local.get $rs)))))
            (f32.store (i32.add (i32.add (local.get $acc) (local.get $cb)) (local.get $at))
              (f32.add (f32.load (i32.add (i32.add (local.get $acc) (local.get $cb)) (local.get $at))) (local.get $ds)))
            (f32.store (i32.add (i32.add (local.get $acc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at))
              (f32.add (f32.load (i32.add (i32.add (local.get $acc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at)))
                (f32.mul (f32.mul (f32.load (i32.add (i32.add (local.get $pc) (local.get $cb)) (local.get $at))) (local.get $xs)) (local.get $gs))))
            (f32.store (i32.add (i32.add (local.get $acc) (i32.mul (local.get $cb) (i32.const 3))) (local.get $at))
              (f32.add (f32.load (i32.add (i32.add (local.get $acc) (i32.mul (local.get $cb) (i32.const 3))) (local.get $at)))
                (f32.mul (local.get $rs) (local.get $gs))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $dy (i32.add (local.get $dy) (local.get $rowbytes)))
        (local.set $xin (i32.add (local.get $xin) (local.get $rowbytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Batch norm's backward pass, second pass: out[c] = sum over rows of xc * k[c] (the gradient through the
  ;; variance, dxc, summed for the mean's gradient), from 0 in row order; xc = x - mean, x at $xin.
  (func (export "bn_grad_center_sum")
    (param $xin i32) (param $mean i32) (param $k i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $rowbytes i32) (local $at i32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rowbytes (i32.shl (local.get $cols) (i32.const 2)))
    (memory.fill (local.get $out) (i32.const 0) (local.get $rowbytes))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (i32.add (local.get $out) (local.get $at))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $at)))
                (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $xin) (local.get $at))) (v128.load (i32.add (local.get $mean) (local.get $at))))
                  (v128.load (i32.add (local.get $k) (local.get $at))))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (f32.store (i32.add (local.get $out) (local.get $at))
              (f32.add (f32.load (i32.add (local.get $out) (local.get $at)))
                (f32.mul (f32.sub (f32.load (i32.add (local.get $xin) (local.get $at))) (f32.load (i32.add (local.get $mean) (local.get $at))))
                  (f32.load (i32.add (local.get $k) (local.get $at))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $xin (i32.add (local.get $xin) (local.get $rowbytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Batch norm's backward pass, last pass: dx = ((into + dx1) + xc * k) + dx3 per element, dx1 = (dy * r) * gamma
  ;; (dy * r with no gamma), without `into` when $into is 0; r, gamma, k and dx3 per channel at $pc (cols floats
  ;; each), xc = x - mean with x at $xin. The additions in the order tfjs's tape sums the paths to x
  ;; (src/layers/batchnorm.ts).
  (func (export "bn_grad_dx")
    (param $dy i32) (param $xin i32) (param $mean i32) (param $into i32) (param $dx i32) (param $pc i32) (param $rows i32) (param $cols i32) (param $gamma i32)
    (local $r i32) (local $c i32) (local $end4 i32) (local $cb i32) (local $at i32) (local $v v128) (local $s f32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $cb (i32.shl (local.get $cols) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $vec_done
          (loop $vec
            (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (local.set $v (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $at))) (v128.load (i32.add (local.get $pc) (local.get $at)))))
            (if (local.get $gamma)
              (then (local.set $v (f32x4.mul (local.get $v) (v128.load (i32.add (i32.add (local.get $pc) (local.get $cb)) (local.get $at)))))))
            (if (local.get $into)
              (then (local.set $v (f32x4.add (v128.load (i32.add (local.get $into) (local.get $at))) (local.get $v)))))
            (v128.store (i32.add (local.get $dx) (local.get $at))
              (f32x4.add
                (f32x4.add (local.get $v)
                  (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $xin) (local.get $at))) (v128.load (i32.add (local.get $mean) (local.get $at))))
                    (v128.load (i32.add (i32.add (local.get $pc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at)))))
                (v128.load (i32.add (i32.add (local.get $pc) (i32.mul (local.get $cb) (i32.const 3))) (local.get $at)))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vec)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $at (i32.shl (local.get $c) (i32.const 2)))
            (local.set $s (f32.mul (f32.load (i32.add (local.get $dy) (local.get $at))) (f32.load (i32.add (local.get $pc) (local.get $at)))))
            (if (local.get $gamma)
              (then (local.set $s (f32.mul (local.get $s) (f32.load (i32.add (i32.add (local.get $pc) (local.get $cb)) (local.get $at)))))))
            (if (local.get $into)
              (then (local.set $s (f32.add (f32.load (i32.add (local.get $into) (local.get $at))) (local.get $s)))))
            (f32.store (i32.add (local.get $dx) (local.get $at))
              (f32.add
                (f32.add (local.get $s)
                  (f32.mul (f32.sub (f32.load (i32.add (local.get $xin) (local.get $at))) (f32.load (i32.add (local.get $mean) (local.get $at))))
                    (f32.load (i32.add (i32.add (local.get $pc) (i32.shl (local.get $cb) (i32.const 1))) (local.get $at)))))
                (f32.load (i32.add (i32.add (local.get $pc) (i32.mul (local.get $cb) (i32.const 3))) (local.get $at)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $dy (i32.add (local.get $dy) (local.get $cb)))
        (local.set $xin (i32.add (local.get $xin) (local.get $cb)))
        (if (local.get $into) (then (local.set $into (i32.add (local.get $into) (local.get $cb)))))
        (local.set $dx (i32.add (local.get $dx) (local.get $cb)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; exp(x) for float32 x, bit for bit the stock Exp kernel (musl's expf, which tfjs-backend-wasm calls per element):
  ;; z = x * 32/ln2 in float64, k = z rounded to an integer (by adding and subtracting 0x1.8p52), r = z - k,
  ;; s = 2^(k/32) from the table at $tab (32 doubles' bits, 2^(i/32) with i << 47 subtracted) with k's high bits
  ;; added to its exponent, and y = s * ((C0 r + C1) r^2 + (C2 r + 1)), rounded to float32. 4 values a step as two
  ;; pairs of doubles; a step with any |x| >= 88 (or a NaN) and the last n % 4 values take expf_one, which also
  ;; has expf's answers for infinities, NaN, overflow and underflow.
  (func $expf_one (param $x f32) (param $tab i32) (result f32)
    (local $bits i32) (local $abstop i32) (local $z f64) (local $kd f64) (local $ki i64) (local $r f64) (local $s f64)
    (local.set $bits (i32.reinterpret_f32 (local.get $x)))
    (local.set $abstop (i32.and (i32.shr_u (local.get $bits) (i32.const 20)) (i32.const 0x7ff)))
    (if (i32.ge_u (local.get $abstop) (i32.const 0x42b))
      (then
        (if (i32.eq (local.get $bits) (i32.const 0xff800000)) (then (return (f32.const 0))))
        (if (i32.ge_u (local.get $abstop) (i32.const 0x7f8)) (then (return (f32.add (local.get $x) (local.get $x)))))
        (if (f32.gt (local.get $x) (f32.const 0x1.62e42ep6)) (then (return (f32.mul (f32.const 0x1p97) (f32.const 0x1p97)))))
        (if (f32.lt (local.get $x) (f32.const -0x1.9fe368p6)) (then (return (f32.mul (f32.const 0x1p-95) (f32.const 0x1p-95)))))))
    (local.set $z (f64.mul (f64.const 0x1.71547652b82fep5) (f64.promote_f32 (local.get $x))))
    (local.set $kd (f64.add (local.get $z) (f64.const 0x1.8p52)))
    (local.set $ki (i64.reinterpret_f64 (local.get $kd)))
    (local.set $kd (f64.sub (local.get $kd) (f64.const 0x1.8p52)))
    (local.set $r (f64.sub (local.get $z) (local.get $kd)))
    (local.set $s (f64.reinterpret_i64 (i64.add
      (i64.load (i32.add (local.get $tab) (i32.shl (i32.and (i32.wrap_i64 (local.get $ki)) (i32.const 31)) (i32.const 3))))
      (i64.shl (local.get $ki) (i64.const 47)))))
    (f32.demote_f64 (f64.mul
      (f64.add
        (f64.mul (f64.add (f64.mul (f64.const 0x1.c6af84b912394p-20) (local.get $r)) (f64.const 0x1.ebfce50fac4f3p-13))
                 (f64.mul (local.get $r) (local.get $r)))
        (f64.add (f64.mul (f64.const 0x1.62e42ff0c52d6p-6) (local.get $r)) (f64.const 1)))
      (local.get $s))))

  (func $expf (export "expf")
    (param $x i32) (param $out i32) (param $n i32) (param $tab i32)
    (local $i i32) (local $end4 i32) (local $v v128) (local $at i32)
    (local $z v128) (local $kd v128) (local $r v128) (local $t v128) (local $lo v128) (local $hi v128)
    (local $invln2n v128) (local $shift v128) (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $one v128)
    (local.set $invln2n (f64x2.splat (f64.const 0x1.71547652b82fep5)))
    (local.set $shift (f64x2.splat (f64.const 0x1.8p52)))
    (local.set $c0 (f64x2.splat (f64.const 0x1.c6af84b912394p-20)))
    (local.set $c1 (f64x2.splat (f64.const 0x1.ebfce50fac4f3p-13)))
    (local.set $c2 (f64x2.splat (f64.const 0x1.62e42ff0c52d6p-6)))
    (local.set $one (f64x2.splat (f64.const 1)))
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $vec_done
      (loop $vec
        (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $at))))
        (if (v128.any_true (i32x4.ge_u
              (v128.and (i32x4.shr_u (local.get $v) (i32.const 20)) (i32x4.splat (i32.const 0x7ff)))
              (i32x4.splat (i32.const 0x42b))))
          (then
            (f32.store (i32.add (local.get $out) (local.get $at)) (call $expf_one (f32x4.extract_lane 0 (local.get $v)) (local.get $tab)))
            (f32.store offset=4 (i32.add (local.get $out) (local.get $at)) (call $expf_one (f32x4.extract_lane 1 (local.get $v)) (local.get $tab)))
            (f32.store offset=8 (i32.add (local.get $out) (local.get $at)) (call $expf_one (f32x4.extract_lane 2 (local.get $v)) (local.get $tab)))
            (f32.store offset=12 (i32.add (local.get $out) (local.get $at)) (call $expf_one (f32x4.extract_lane 3 (local.get $v)) (local.get $tab))))
          (else
            (local.set $z (f64x2.mul (local.get $invln2n) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $kd (f64x2.add (local.get $z) (local.get $shift)))
            (local.set $t (i64x2.add
              (i64x2.replace_lane 1
                (i64x2.splat (i64.load (i32.add (local.get $tab) (i32.shl (i32.and (i32x4.extract_lane 0 (local.get $kd)) (i32.const 31)) (i32.const 3)))))
                (i64.load (i32.add (local.get $tab) (i32.shl (i32.and (i32x4.extract_lane 2 (local.get $kd)) (i32.const 31)) (i32.const 3)))))
              (i64x2.shl (local.get $kd) (i32.const 47))))
            (local.set $r (f64x2.sub (local.get $z) (f64x2.sub (local.get $kd) (local.get $shift))))
            (local.set $lo (f32x4.demote_f64x2_zero (f64x2.mul
              (f64x2.add
                (f64x2.mul (f64x2.add (f64x2.mul (local.get $c0) (local.get $r)) (local.get $c1)) (f64x2.mul (local.get $r) (local.get $r)))
                (f64x2.add (f64x2.mul (local.get $c2) (local.get $r)) (local.get $one)))
              (local.get $t))))
            (local.set $z (f64x2.mul (local.get $invln2n) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $kd (f64x2.add (local.get $z) (local.get $shift)))
            (local.set $t (i64x2.add
              (i64x2.replace_lane 1
                (i64x2.splat (i64.load (i32.add (local.get $tab) (i32.shl (i32.and (i32x4.extract_lane 0 (local.get $kd)) (i32.const 31)) (i32.const 3)))))
                (i64.load (i32.add (local.get $tab) (i32.shl (i32.and (i32x4.extract_lane 2 (local.get $kd)) (i32.const 31)) (i32.const 3)))))
              (i64x2.shl (local.get $kd) (i32.const 47))))
            (local.set $r (f64x2.sub (local.get $z) (f64x2.sub (local.get $kd) (local.get $shift))))
            (local.set $hi (f32x4.demote_f64x2_zero (f64x2.mul
              (f64x2.add
                (f64x2.mul (f64x2.add (f64x2.mul (local.get $c0) (local.get $r)) (local.get $c1)) (f64x2.mul (local.get $r) (local.get $r)))
                (f64x2.add (f64x2.mul (local.get $c2) (local.get $r)) (local.get $one)))
              (local.get $t))))
            (v128.store (i32.add (local.get $out) (local.get $at))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (i32.add (local.get $out) (local.get $at)) (call $expf_one (f32.load (i32.add (local.get $x) (local.get $at))) (local.get $tab)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; out = dy * step(y, alpha) for n float32 values: relu's gradient (alpha 0) or leaky relu's (alpha its slope)
  ;; from its output y as tfjs writes it, Multiply(dy, Step(y, alpha)) in one pass. Step gives 1 where y > 0, y itself
  ;; where y is a NaN (its payload goes through, as the stock kernel's does) and alpha elsewhere; the product is the
  ;; stock Multiply's float32 dy * s, so -0, infinities and NaNs come out as the two kernels give them
  ;; (test/runtime/wasm-kernels.test.ts). 4 a step, the last n % 4 one at a time.
  (func (export "relu_grad")
    (param $dy i32) (param $y i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end4 i32) (local $at i32) (local $v v128) (local $s f32) (local $a v128)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $a (f32x4.splat (local.get $alpha)))
    (block $vec_done
      (loop $vec
        (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (v128.load (i32.add (local.get $y) (local.get $at))))
        (v128.store (i32.add (local.get $out) (local.get $at))
          (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $at)))
            (v128.bitselect
              (local.get $v)
              (v128.bitselect (v128.const f32x4 1 1 1 1) (local.get $a) (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0)))
              (f32x4.ne (local.get $v) (local.get $v)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $s (f32.load (i32.add (local.get $y) (local.get $at))))
        (f32.store (i32.add (local.get $out) (local.get $at))
          (f32.mul (f32.load (i32.add (local.get $dy) (local.get $at)))
            (if (result f32) (f32.ne (local.get $s) (local.get $s))
              (then (local.get $s))
              (else (if (result f32) (f32.gt (local.get $s) (f32.const 0)) (then (f32.const 1)) (else (local.get $alpha)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; out[i] = x[i] > s, one byte each (tfjs's bool), for n float32 values and a float32 s: the stock Greater with a
  ;; scalar b (a NaN compares false). 16 a step (four compares narrowed to bytes), the last n % 16 one at a time.
  (func (export "greater_scalar")
    (param $x i32) (param $s f32) (param $out i32) (param $n i32)
    (local $i i32) (local $end16 i32) (local $at i32) (local $sv v128)
    (local.set $end16 (i32.and (local.get $n) (i32.const -16)))
    (local.set $sv (f32x4.splat (local.get $s)))
    (block $vec_done
      (loop $vec
        (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end16)))
        (local.set $at (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (v128.and (i32x4.splat (i32.const 0x01010101))
            (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s (f32x4.gt (v128.load (local.get $at)) (local.get $sv)) (f32x4.gt (v128.load offset=16 (local.get $at)) (local.get $sv)))
              (i16x8.narrow_i32x4_s (f32x4.gt (v128.load offset=32 (local.get $at)) (local.get $sv)) (f32x4.gt (v128.load offset=48 (local.get $at)) (local.get $sv))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $out) (local.get $i))
          (f32.gt (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))) (local.get $s)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; out[i] = cond[i] ? t[i] : e[i] for n 4-byte values and one byte of cond each (tfjs's bool): the stock Select
  ;; where all three have one shape, the chosen value's bits as they are. 4 a step, the last n % 4 one at a time.
  (func (export "select")
    (param $cond i32) (param $t i32) (param $e i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end4 i32) (local $at i32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $vec_done
      (loop $vec
        (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $out) (local.get $at))
          (v128.bitselect
            (v128.load (i32.add (local.get $t) (local.get $at)))
            (v128.load (i32.add (local.get $e) (local.get $at)))
            (i32x4.ne
              (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (i32.add (local.get $cond) (local.get $i)))))
              (v128.const i32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (i32.store (i32.add (local.get $out) (local.get $at))
          (select
            (i32.load (i32.add (local.get $t) (local.get $at)))
            (i32.load (i32.add (local.get $e) (local.get $at)))
            (i32.load8_u (i32.add (local.get $cond) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; x[i] = x[i] / d in place for n float32 values (Mean's division of its sums by the count, 4 a step): float32
  ;; division is correctly rounded, as float32(x / d) computed in doubles is for float32 x and d.
  (func (export "divide")
    (param $x i32) (param $n i32) (param $d f32)
    (local $i i32) (local $end4 i32) (local $dv v128) (local $at i32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $dv (f32x4.splat (local.get $d)))
    (block $vec_done
      (loop $vec
        (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
        (v128.store (local.get $at) (f32x4.div (v128.load (local.get $at)) (local.get $dv)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
        (f32.store (local.get $at) (f32.div (f32.load (local.get $at)) (local.get $d)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; Nearest-neighbour upsampling by whole factors, NHWC: x [rows = n * h, w, c] to out [n * h * fh, w * fw, c],
  ;; out[r * fh + i, j * fw + k, :] = x[r, j, :]. Each input pixel's c floats are copied fw times into the
  ;; first of its fh output rows (4 floats a lane), which is then copied whole to the other fh - 1: copies,
  ;; so bit for bit the stock kernel wherever both pick the same source pixel (see makeResizeNearestKernel).
  (func (export "upsample_nearest")
    (param $x i32) (param $out i32) (param $rows i32) (param $w i32) (param $c i32) (param $fh i32) (param $fw i32)
    (local $r i32) (local $j i32) (local $k i32) (local $i i32) (local $e i32) (local $end4 i32)
    (local $src i32) (local $dst i32) (local $orow i32) (local $rowBytes i32) (local $pix i32)
    (local.set $end4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $pix (i32.shl (local.get $c) (i32.const 2)))
    (local.set $rowBytes (i32.mul (i32.mul (local.get $w) (local.get $fw)) (local.get $pix)))
    (local.set $src (local.get $x))
    (local.set $orow (local.get $out))
    (block $r_done
      (loop $r_loop
        (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $dst (local.get $orow))
        (local.set $j (i32.const 0))
        (block $j_done
          (loop $j_loop
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $w)))
            (local.set $k (i32.const 0))
            (block $k_done
              (loop $k_loop
                (br_if $k_done (i32.ge_u (local.get $k) (local.get $fw)))
                (local.set $e (i32.const 0))
                (block $v_done
                  (loop $v
                    (br_if $v_done (i32.ge_u (local.get $e) (local.get $end4)))
                    (v128.store (i32.add (local.get $dst) (i32.shl (local.get $e) (i32.const 2)))
                      (v128.load (i32.add (local.get $src) (i32.shl (local.get $e) (i32.const 2)))))
                    (local.set $e (i32.add (local.get $e) (i32.const 4)))
                    (br $v)))
                (block $t_done
                  (loop $t
                    (br_if $t_done (i32.ge_u (local.get $e) (local.get $c)))
                    (i32.store (i32.add (local.get $dst) (i32.shl (local.get $e) (i32.const 2)))
                      (i32.load (i32.add (local.get $src) (i32.shl (local.get $e) (i32.const 2)))))
                    (local.set $e (i32.add (local.get $e) (i32.const 1)))
                    (br $t)))
                (local.set $dst (i32.add (local.get $dst) (local.get $pix)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $k_loop)))
            (local.set $src (i32.add (local.get $src) (local.get $pix)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $j_loop)))
        ;; the first output row of this input row, copied to the other fh - 1
        (local.set $i (i32.const 1))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $fh)))
            (memory.copy (i32.add (local.get $orow) (i32.mul (local.get $i) (local.get $rowBytes))) (local.get $orow) (local.get $rowBytes))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (local.set $orow (i32.add (local.get $orow) (i32.mul (local.get $fh) (local.get $rowBytes))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $r_loop))))

  ;; Sum of x viewed as [a, r1, b, r2, c] over its axes 1 and 3: out[i, j, :] = the sum over p < r1, q < r2
  ;; (p outer, q inner) of x[i, p, j, q, :], each element ((0 + first) + second) + ..., the order in which
  ;; tfjs-backend-wasm's Sum adds them after transposing the reduced axes inward (so the same bits), here
  ;; without the transpose, one row of c floats at a time, 4 a lane. Any Sum whose reduced axes form at
  ;; most two runs and that keeps the last axis is this shape: a 2x2 average pool as reshape and mean
  ;; over [n, h/2, 2, w/2, 2, c], the gradient of a nearest-neighbour upsampling, column sums (a = b = 1).
  (func (export "strided_sum")
    (param $x i32) (param $out i32) (param $a i32) (param $r1 i32) (param $b i32) (param $r2 i32) (param $cols i32)
    (local $i i32) (local $j i32) (local $p i32) (local $q i32) (local $c i32) (local $end4 i32)
    (local $orow i32) (local $row i32) (local $at i32) (local $rowBytes i32)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $orow (local.get $out))
    (block $i_done
      (loop $i_loop
        (br_if $i_done (i32.ge_u (local.get $i) (local.get $a)))
        (local.set $j (i32.const 0))
        (block $j_done
          (loop $j_loop
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $b)))
            (memory.fill (local.get $orow) (i32.const 0) (local.get $rowBytes))
            (local.set $p (i32.const 0))
            (block $p_done
              (loop $p_loop
                (br_if $p_done (i32.ge_u (local.get $p) (local.get $r1)))
                (local.set $q (i32.const 0))
                (block $q_done
                  (loop $q_loop
                    (br_if $q_done (i32.ge_u (local.get $q) (local.get $r2)))
                    ;; row = x + ((((i * r1 + p) * b + j) * r2 + q) * cols) * 4
                    (local.set $row (i32.add (local.get $x) (i32.mul (local.get $rowBytes)
                      (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get $r1)) (local.get $p)) (local.get $b)) (local.get $j)) (local.get $r2)) (local.get $q)))))
                    (local.set $c (i32.const 0))
                    (block $vec_done
                      (loop $vec
                        (br_if $vec_done (i32.ge_u (local.get $c) (local.get $end4)))
                        (local.set $at (i32.shl (local.get $c) (i32.const 2)))
                        (v128.store (i32.add (local.get $orow) (local.get $at))
                          (f32x4.add (v128.load (i32.add (local.get $orow) (local.get $at))) (v128.load (i32.add (local.get $row) (local.get $at)))))
                        (local.set $c (i32.add (local.get $c) (i32.const 4)))
                        (br $vec)))
                    (block $tail_done
                      (loop $tail
                        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
                        (local.set $at (i32.shl (local.get $c) (i32.const 2)))
                        (f32.store (i32.add (local.get $orow) (local.get $at))
                          (f32.add (f32.load (i32.add (local.get $orow) (local.get $at))) (f32.load (i32.add (local.get $row) (local.get $at)))))
                        (local.set $c (i32.add (local.get $c) (i32.const 1)))
                        (br $tail)))
                    (local.set $q (i32.add (local.get $q) (i32.const 1)))
                    (br $q_loop)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $p_loop)))
            (local.set $orow (i32.add (local.get $orow) (local.get $rowBytes)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $j_loop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $i_loop))))

  ;; The transpose of a dense matrix: transpose_strided with rows cols apart.
  (func (export "transpose") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (call $transpose_strided (local.get $src) (local.get $dst) (local.get $rows) (local.get $cols) (local.get $cols)))

  ;; dst = the transpose of src: src is [rows, cols] row-major with rows $stride elements apart (cols for a
  ;; dense matrix, more for a block of a wider one), dst [cols, rows] dense (byte offsets; the two
  ;; must not overlap). 4x4 blocks through f32x4 shuffles, the edges element by element; a copy, so the
  ;; values are bit for bit src's.
  (func $transpose_strided (export "transpose_strided")
      (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $stride i32)
      (local $r i32) (local $c i32) (local $rows4 i32) (local $cols4 i32)
      (local $s i32) (local $d i32) (local $srcRow i32) (local $dstRow i32)
      (local $a v128) (local $b v128) (local $e v128) (local $f v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rows4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $srcRow (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $dstRow (i32.shl (local.get $rows) (i32.const 2)))
    ;; the 4x4 blocks
    (local.set $r (i32.const 0))
    (block $rdone
      (loop $rloop
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows4)))
        (local.set $c (i32.const 0))
        (block $cdone
          (loop $cloop
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $cols4)))
            (local.set $s (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $stride)) (local.get $c)) (i32.const 2))))
            (local.set $a (v128.load (local.get $s)))
            (local.set $b (v128.load (i32.add (local.get $s) (local.get $srcRow))))
            (local.set $e (v128.load (i32.add (local.get $s) (i32.shl (local.get $srcRow) (i32.const 1)))))
            (local.set $f (v128.load (i32.add (local.get $s) (i32.mul (local.get $srcRow) (i32.const 3)))))
            ;; t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = e0 f0 e1 f1, t3 = e2 f2 e3 f3
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e) (local.get $f)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e) (local.get $f)))
            (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2))))
            (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $d) (local.get $dstRow)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $d) (i32.shl (local.get $dstRow) (i32.const 1))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store (i32.add (local.get $d) (i32.mul (local.get $dstRow) (i32.const 3))) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cloop)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rloop)))
    ;; the last cols % 4 columns of the first rows4 rows
    (local.set $r (i32.const 0))
    (block $edone
      (loop $eloop
        (br_if $edone (i32.ge_u (local.get $r) (local.get $rows4)))
        (local.set $c (local.get $cols4))
        (block $ecdone
          (loop $ecloop
            (br_if $ecdone (i32.ge_u (local.get $c) (local.get $cols)))
            (f32.store
              (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
              (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $stride)) (local.get $c)) (i32.const 2)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $ecloop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $eloop)))
    ;; the last rows % 4 rows, every column
    (local.set $r (local.get $rows4))
    (block $tdone
      (loop $tloop
        (br_if $tdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $tcdone
          (loop $tcloop
            (br_if $tcdone (i32.ge_u (local.get $c) (local.get $cols)))
            (f32.store
              (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
              (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $stride)) (local.get $c)) (i32.const 2)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tcloop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $tloop))))

  ;; Rows [m0, m1) of the im2col matrix of an NHWC convolution with dilation 1 along the width (see
  ;; im2colRows in blas_kernels.ts): for each output pixel and filter row, the filter columns that read
  ;; real pixels are one memory.copy from x, and only the columns that read padding are zeroed.
  ;; x, cols: byte offsets; every other argument in elements.
  (func (export "im2col_rows")
      (param $x i32) (param $cols i32) (param $m0 i32) (param $m1 i32)
      (param $h i32) (param $w i32) (param $cin i32) (param $oh i32) (param $ow i32)
      (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $dh i32)
      (param $top i32) (param $left i32)
      (local $rowBytes i32) (local $pixBytes i32) (local $kBytes i32) (local $per i32)
      (local $n i32) (local $o_h i32) (local $o_w i32) (local $m i32) (local $at i32)
      (local $iw0 i32) (local $ih0 i32) (local $first i32) (local $last i32)
      (local $k i32) (local $ih i32) (local $base i32) (local $xRow i32)
    (local $dst i32) (local $src i32) (local $len i32) (local $end i32)
      (local.set $pixBytes (i32.shl (local.get $cin) (i32.const 2)))
      (local.set $rowBytes (i32.mul (local.get $kw) (local.get $pixBytes)))
      (local.set $kBytes (i32.mul (local.get $kh) (local.get $rowBytes)))
      (local.set $per (i32.mul (local.get $oh) (local.get $ow)))
      (local.set $n (i32.div_u (local.get $m0) (local.get $per)))
      (local.set $o_h (i32.div_u (i32.sub (local.get $m0) (i32.mul (local.get $n) (local.get $per))) (local.get $ow)))
      (local.set $o_w (i32.sub (i32.sub (local.get $m0) (i32.mul (local.get $n) (local.get $per))) (i32.mul (local.get $o_h) (local.get $ow))))
      (local.set $at (local.get $cols))
      (local.set $m (local.get $m0))
      (block $done
        (loop $pixels
          (br_if $done (i32.ge_u (local.get $m) (local.get $m1)))
          (local.set $iw0 (i32.sub (i32.mul (local.get $o_w) (local.get $sw)) (local.get $left)))
          (local.set $ih0 (i32.sub (i32.mul (local.get $o_h) (local.get $sh)) (local.get $top)))
          ;; first = max(0, min(kw, -iw0)); last = max(first, min(kw, w - iw0))
          (local.set $first (i32.sub (i32.const 0) (local.get $iw0)))
          (if (i32.gt_s (local.get $first) (local.get $kw)) (then (local.set $first (local.get $kw))))
          (if (i32.lt_s (local.get $first) (i32.const 0)) (then (local.set $first (i32.const 0))))
          (local.set $last (i32.sub (local.get $w) (local.get $iw0)))
          (if (i32.gt_s (local.get $last) (local.get $kw)) (then (local.set $last (local.get $kw))))
          (if (i32.lt_s (local.get $last) (local.get $first)) (then (local.set $last (local.get $first))))
          (local.set $k (i32.const 0))
          (block $rows_done
            (loop $rows
              (br_if $rows_done (i32.ge_u (local.get $k) (local.get $kh)))
              (local.set $ih (i32.add (local.get $ih0) (i32.mul (local.get $k) (local.get $dh))))
              (local.set $base (i32.add (local.get $at) (i32.mul (local.get $k) (local.get $rowBytes))))
              ;; unsigned: a negative ih is out of range too
              (if (i32.ge_u (local.get $ih) (local.get $h))
                (then (memory.fill (local.get $base) (i32.const 0) (local.get $rowBytes)))
                (else
                  (local.set $xRow (i32.add (local.get $x)
                    (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $h)) (local.get $ih)) (local.get $w)) (local.get $pixBytes))))
                  (if (i32.gt_s (local.get $first) (i32.const 0))
                    (then (memory.fill (local.get $base) (i32.const 0) (i32.mul (local.get $first) (local.get $pixBytes)))))
                  (local.set $dst (i32.add (local.get $base) (i32.mul (local.get $first) (local.get $pixBytes))))
                  (local.set $src (i32.add (local.get $xRow) (i32.mul (i32.add (local.get $iw0) (local.get $first)) (local.get $pixBytes))))
                  (local.set $len (i32.mul (i32.sub (local.get $last) (local.get $first)) (local.get $pixBytes)))
                  ;; short runs (few channels) word by word: a bulk-memory call costs more than the copy
                  (if (i32.gt_u (local.get $len) (i32.const 64))
                    (then (memory.copy (local.get $dst) (local.get $src) (local.get $len)))
                    (else
                      (local.set $end (i32.add (local.get $dst) (local.get $len)))
                      (block $copied
                        (loop $copy
                          (br_if $copied (i32.ge_u (local.get $dst) (local.get $end)))
                          (i32.store (local.get $dst) (i32.load (local.get $src)))
                          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                          (local.set $src (i32.add (local.get $src) (i32.const 4)))
                          (br $copy)))))
                  (if (i32.lt_s (local.get $last) (local.get $kw))
                    (then
                      (memory.fill
                        (i32.add (local.get $base) (i32.mul (local.get $last) (local.get $pixBytes)))
                        (i32.const 0)
                        (i32.mul (i32.sub (local.get $kw) (local.get $last)) (local.get $pixBytes)))))))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $rows)))
          (local.set $at (i32.add (local.get $at) (local.get $kBytes)))
          (local.set $o_w (i32.add (local.get $o_w) (i32.const 1)))
          (if (i32.eq (local.get $o_w) (local.get $ow))
            (then
              (local.set $o_w (i32.const 0))
              (local.set $o_h (i32.add (local.get $o_h) (i32.const 1)))
              (if (i32.eq (local.get $o_h) (local.get $oh))
                (then
                  (local.set $o_h (i32.const 0))
                  (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
          (local.set $m (i32.add (local.get $m) (i32.const 1)))
          (br $pixels))))

  ;; One power-iteration step of spectral norm in float64, for w [n, out] (float32, row-major) and u [out]
  ;; (float32): the same operations in the same order as powerStep64 in src/runtime/ops.ts, so the same bits.
  ;;   t[i] = sum over o of w[i, o] * u[o] (from 0, o ascending)   tn = sqrt(sum over i of t[i]^2) + 1e-12
  ;;   v[i] = float32(t[i] / tn)
  ;;   s[o] = sum over i of v[i] * w[i, o] (from 0, i ascending)    sn = sqrt(sum over o of s[o]^2) + 1e-12
  ;;   un[o] = float32(s[o] / sn)
  ;; Each product of two float32 values is exact in float64. t takes rows two at a time, one per f64x2 lane (each
  ;; lane its own row's sum in order); s takes two columns a lane pair. $t (n doubles) and $s (out doubles) are
  ;; scratch; $v (n floats) and $un (out floats) the results. Byte offsets.
  (func (export "power_step")
    (param $w i32) (param $u i32) (param $n i32) (param $out i32) (param $t i32) (param $s i32) (param $v i32) (param $un i32)
    (local $i i32) (local $o i32) (local $row i32) (local $rowBytes i32) (local $end2 i32)
    (local $acc v128) (local $a f64) (local $sum f64) (local $norm f64) (local $vi v128)
    (local.set $rowBytes (i32.shl (local.get $out) (i32.const 2)))
    ;; t, two rows at a time
    (block $pairs_done
      (loop $pairs
        (br_if $pairs_done (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $n)))
        (local.set $row (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $acc (v128.const f64x2 0 0))
        (local.set $o (i32.const 0))
        (block $o_done
          (loop $o_loop
            (br_if $o_done (i32.ge_u (local.get $o) (local.get $out)))
            (local.set $acc (f64x2.add (local.get $acc)
              (f64x2.mul
                (f64x2.replace_lane 1
                  (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $o) (i32.const 2))))))
                  (f64.promote_f32 (f32.load (i32.add (i32.add (local.get $row) (local.get $rowBytes)) (i32.shl (local.get $o) (i32.const 2))))))
                (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $u) (i32.shl (local.get $o) (i32.const 2)))))))))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $o_loop)))
        (v128.store (i32.add (local.get $t) (i32.shl (local.get $i) (i32.const 3))) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $pairs)))
    ;; the last row of an odd n
    (if (i32.lt_u (local.get $i) (local.get $n))
      (then
        (local.set $row (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $a (f64.const 0))
        (local.set $o (i32.const 0))
        (block $last_done
          (loop $last
            (br_if $last_done (i32.ge_u (local.get $o) (local.get $out)))
            (local.set $a (f64.add (local.get $a)
              (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $o) (i32.const 2)))))
                       (f64.promote_f32 (f32.load (i32.add (local.get $u) (i32.shl (local.get $o) (i32.const 2))))))))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $last)))
        (f64.store (i32.add (local.get $t) (i32.shl (local.get $i) (i32.const 3))) (local.get $a))))
    ;; tn, then v
    (local.set $sum (f64.const 0))
    (local.set $i (i32.const 0))
    (block $tt_done
      (loop $tt
        (br_if $tt_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $a (f64.load (i32.add (local.get $t) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $a) (local.get $a))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tt)))
    (local.set $norm (f64.add (f64.sqrt (local.get $sum)) (f64.const 1e-12)))
    (local.set $i (i32.const 0))
    (block $v_done
      (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 2)))
          (f32.demote_f64 (f64.div (f64.load (i32.add (local.get $t) (i32.shl (local.get $i) (i32.const 3)))) (local.get $norm))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $v_loop)))
    ;; s, row by row into two columns a lane pair
    (memory.fill (local.get $s) (i32.const 0) (i32.shl (local.get $out) (i32.const 3)))
    (local.set $end2 (i32.and (local.get $out) (i32.const -2)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $row (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $vi (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $o (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $o) (local.get $end2)))
            (v128.store (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 3)))
              (f64x2.add (v128.load (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 3))))
                (f64x2.mul (local.get $vi)
                  (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $row) (i32.shl (local.get $o) (i32.const 2))))))))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))
            (br $cols)))
        (if (i32.lt_u (local.get $o) (local.get $out))
          (then
            (f64.store (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 3)))
              (f64.add (f64.load (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 3))))
                (f64.mul (f64x2.extract_lane 0 (local.get $vi))
                  (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $o) (i32.const 2))))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
    ;; sn, then un
    (local.set $sum (f64.const 0))
    (local.set $o (i32.const 0))
    (block $ss_done
      (loop $ss
        (br_if $ss_done (i32.ge_u (local.get $o) (local.get $out)))
        (local.set $a (f64.load (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 3)))))
        (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $a) (local.get $a))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ss)))
    (local.set $norm (f64.add (f64.sqrt (local.get $sum)) (f64.const 1e-12)))
    (local.set $o (i32.const 0))
    (block $un_done
      (loop $un_loop
        (br_if $un_done (i32.ge_u (local.get $o) (local.get $out)))
        (f32.store (i32.add (local.get $un) (i32.shl (local.get $o) (i32.const 2)))
          (f32.demote_f64 (f64.div (f64.load (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 3)))) (local.get $norm))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $un_loop))))

  ;; 2x2 max pooling as src/layers/attention.ts writes it for gradient penalties (each window's values times a
  ;; one-hot mask of its first largest entry, summed), in three passes over x [b, h, w, c] (h and w even) seen as
  ;; $rows = b * h / 2 pairs of rows of $w positions of $c channels. Window entry k of output (i, j, ch) is (2i, 2j),
  ;; (2i, 2j + 1), (2i + 1, 2j), (2i + 1, 2j + 1) for k = 0, 1, 2, 3: the order of the chain's transposed window.
  ;; Each pass walks $p over the window's top-left entries (4 bytes a channel, the odd column skipped after each
  ;; position), with $cb = c * 4 and $rb = w * c * 4 to the other three; 4 channels a step (lane masks instead of
  ;; branches, which random data would mispredict), the last c % 4 one at a time. Byte offsets.

  ;; idx (int32, [b, h/2, w/2, c]) = the first k with the largest value, as the stock ArgMax finds it: k replaces
  ;; the best so far only where its value is strictly greater (a NaN never is; a NaN first stays).
  (func (export "max_pool2_index")
    (param $x i32) (param $idx i32) (param $rows i32) (param $w i32) (param $c i32)
    (local $r i32) (local $j i32) (local $ch i32) (local $p i32) (local $o i32) (local $cb i32) (local $rb i32) (local $wo i32)
    (local $end4 i32) (local $best f32) (local $v f32) (local $k i32)
    (local $bv v128) (local $vv v128) (local $kv v128) (local $gt v128)
    (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $rb (i32.mul (local.get $w) (local.get $cb)))
    (local.set $wo (i32.shr_u (local.get $w) (i32.const 1)))
    (local.set $end4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $o (local.get $idx))
    (block $r_done (loop $r_loop
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.mul (local.get $r) (i32.shl (local.get $rb) (i32.const 1)))))
      (local.set $j (i32.const 0))
      (block $j_done (loop $j_loop
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $wo)))
        (local.set $ch (i32.const 0))
        (block $v_done (loop $v_loop
          (br_if $v_done (i32.ge_u (local.get $ch) (local.get $end4)))
          (local.set $bv (v128.load (local.get $p)))
          (local.set $kv (v128.const i32x4 0 0 0 0))
          (local.set $vv (v128.load (i32.add (local.get $p) (local.get $cb))))
          (local.set $gt (f32x4.gt (local.get $vv) (local.get $bv)))
          (local.set $bv (v128.bitselect (local.get $vv) (local.get $bv) (local.get $gt)))
          (local.set $kv (v128.bitselect (v128.const i32x4 1 1 1 1) (local.get $kv) (local.get $gt)))
          (local.set $vv (v128.load (i32.add (local.get $p) (local.get $rb))))
          (local.set $gt (f32x4.gt (local.get $vv) (local.get $bv)))
          (local.set $bv (v128.bitselect (local.get $vv) (local.get $bv) (local.get $gt)))
          (local.set $kv (v128.bitselect (v128.const i32x4 2 2 2 2) (local.get $kv) (local.get $gt)))
          (local.set $vv (v128.load (i32.add (i32.add (local.get $p) (local.get $rb)) (local.get $cb))))
          (local.set $kv (v128.bitselect (v128.const i32x4 3 3 3 3) (local.get $kv) (f32x4.gt (local.get $vv) (local.get $bv))))
          (v128.store (local.get $o) (local.get $kv))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
          (br $v_loop)))
        (block $c_done (loop $c_loop
          (br_if $c_done (i32.ge_u (local.get $ch) (local.get $c)))
          (local.set $best (f32.load (local.get $p)))
          (local.set $k (i32.const 0))
          (local.set $v (f32.load (i32.add (local.get $p) (local.get $cb))))
          (if (f32.gt (local.get $v) (local.get $best)) (then (local.set $best (local.get $v)) (local.set $k (i32.const 1))))
          (local.set $v (f32.load (i32.add (local.get $p) (local.get $rb))))
          (if (f32.gt (local.get $v) (local.get $best)) (then (local.set $best (local.get $v)) (local.set $k (i32.const 2))))
          (local.set $v (f32.load (i32.add (i32.add (local.get $p) (local.get $rb)) (local.get $cb))))
          (if (f32.gt (local.get $v) (local.get $best)) (then (local.set $k (i32.const 3))))
          (i32.store (local.get $o) (local.get $k))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
          (br $c_loop)))
        (local.set $p (i32.add (local.get $p) (local.get $cb)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j_loop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $r_loop))))

  ;; y [b, h/2, w/2, c] = (((0 + x0 * m0) + x1 * m1) + x2 * m2) + x3 * m3 in float32, m the one-hot of idx: the
  ;; stock Multiply by the mask, then the stock Sum over the window from 0 in window order (the mask's lanes: 1.0
  ;; where the index is the entry's, +0 elsewhere; written out, as V8 does not inline calls). So a window's other
  ;; entries count (times 0: an infinity or a NaN there gives a NaN) and a -0 comes out +0, as in the chain.
  (func (export "max_pool2")
    (param $x i32) (param $idx i32) (param $y i32) (param $rows i32) (param $w i32) (param $c i32)
    (local $r i32) (local $j i32) (local $ch i32) (local $p i32) (local $o i32) (local $cb i32) (local $rb i32) (local $wo i32)
    (local $end4 i32) (local $k i32) (local $acc f32) (local $kv v128) (local $av v128)
    (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $rb (i32.mul (local.get $w) (local.get $cb)))
    (local.set $wo (i32.shr_u (local.get $w) (i32.const 1)))
    (local.set $end4 (i32.and (local.get $c) (i32.const -4)))
    (block $r_done (loop $r_loop
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.mul (local.get $r) (i32.shl (local.get $rb) (i32.const 1)))))
      (local.set $j (i32.const 0))
      (block $j_done (loop $j_loop
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $wo)))
        (local.set $ch (i32.const 0))
        (block $v_done (loop $v_loop
          (br_if $v_done (i32.ge_u (local.get $ch) (local.get $end4)))
          (local.set $kv (v128.load (i32.add (local.get $idx) (local.get $o))))
          (local.set $av (f32x4.add (v128.const f32x4 0 0 0 0) (f32x4.mul (v128.load (local.get $p)) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))
          (local.set $av (f32x4.add (local.get $av) (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $cb))) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 1 1 1 1)) (v128.const f32x4 1 1 1 1)))))
          (local.set $av (f32x4.add (local.get $av) (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $rb))) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 2 2 2 2)) (v128.const f32x4 1 1 1 1)))))
          (local.set $av (f32x4.add (local.get $av)
            (f32x4.mul (v128.load (i32.add (i32.add (local.get $p) (local.get $rb)) (local.get $cb))) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 3 3 3 3)) (v128.const f32x4 1 1 1 1)))))
          (v128.store (i32.add (local.get $y) (local.get $o)) (local.get $av))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
          (br $v_loop)))
        (block $c_done (loop $c_loop
          (br_if $c_done (i32.ge_u (local.get $ch) (local.get $c)))
          (local.set $k (i32.load (i32.add (local.get $idx) (local.get $o))))
          (local.set $acc (f32.add (f32.const 0) (f32.mul (f32.load (local.get $p)) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 0))))))
          (local.set $acc (f32.add (local.get $acc) (f32.mul (f32.load (i32.add (local.get $p) (local.get $cb))) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 1))))))
          (local.set $acc (f32.add (local.get $acc) (f32.mul (f32.load (i32.add (local.get $p) (local.get $rb))) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 2))))))
          (local.set $acc (f32.add (local.get $acc)
            (f32.mul (f32.load (i32.add (i32.add (local.get $p) (local.get $rb)) (local.get $cb))) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 3))))))
          (f32.store (i32.add (local.get $y) (local.get $o)) (local.get $acc))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
          (br $c_loop)))
        (local.set $p (i32.add (local.get $p) (local.get $cb)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j_loop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $r_loop))))

  ;; dx [b, h, w, c]: window entry k of output (i, j, ch) = dy[i, j, ch] * m_k in float32 (dy * 1, or dy * 0: -0 for a
  ;; negative dy, a NaN for an infinite one), the stock Multiply of dy broadcast over the window by the mask: the
  ;; gradient that the chain's product routes to the window (the pooling's zero gradient through the mask is added
  ;; by whoever takes the gradient, as tfjs's tape adds it).
  (func (export "max_pool2_grad")
    (param $dy i32) (param $idx i32) (param $dx i32) (param $rows i32) (param $w i32) (param $c i32)
    (local $r i32) (local $j i32) (local $ch i32) (local $p i32) (local $o i32) (local $cb i32) (local $rb i32) (local $wo i32)
    (local $end4 i32) (local $k i32) (local $d f32) (local $kv v128) (local $dv v128)
    (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $rb (i32.mul (local.get $w) (local.get $cb)))
    (local.set $wo (i32.shr_u (local.get $w) (i32.const 1)))
    (local.set $end4 (i32.and (local.get $c) (i32.const -4)))
    (block $r_done (loop $r_loop
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $dx) (i32.mul (local.get $r) (i32.shl (local.get $rb) (i32.const 1)))))
      (local.set $j (i32.const 0))
      (block $j_done (loop $j_loop
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $wo)))
        (local.set $ch (i32.const 0))
        (block $v_done (loop $v_loop
          (br_if $v_done (i32.ge_u (local.get $ch) (local.get $end4)))
          (local.set $kv (v128.load (i32.add (local.get $idx) (local.get $o))))
          (local.set $dv (v128.load (i32.add (local.get $dy) (local.get $o))))
          (v128.store (local.get $p) (f32x4.mul (local.get $dv) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1))))
          (v128.store (i32.add (local.get $p) (local.get $cb)) (f32x4.mul (local.get $dv) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 1 1 1 1)) (v128.const f32x4 1 1 1 1))))
          (v128.store (i32.add (local.get $p) (local.get $rb)) (f32x4.mul (local.get $dv) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 2 2 2 2)) (v128.const f32x4 1 1 1 1))))
          (v128.store (i32.add (i32.add (local.get $p) (local.get $rb)) (local.get $cb)) (f32x4.mul (local.get $dv) (v128.and (i32x4.eq (local.get $kv) (v128.const i32x4 3 3 3 3)) (v128.const f32x4 1 1 1 1))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
          (br $v_loop)))
        (block $c_done (loop $c_loop
          (br_if $c_done (i32.ge_u (local.get $ch) (local.get $c)))
          (local.set $k (i32.load (i32.add (local.get $idx) (local.get $o))))
          (local.set $d (f32.load (i32.add (local.get $dy) (local.get $o))))
          (f32.store (local.get $p) (f32.mul (local.get $d) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 0)))))
          (f32.store (i32.add (local.get $p) (local.get $cb)) (f32.mul (local.get $d) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 1)))))
          (f32.store (i32.add (local.get $p) (local.get $rb)) (f32.mul (local.get $d) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 2)))))
          (f32.store (i32.add (i32.add (local.get $p) (local.get $rb)) (local.get $cb)) (f32.mul (local.get $d) (f32.convert_i32_u (i32.eq (local.get $k) (i32.const 3)))))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
          (br $c_loop)))
        (local.set $p (i32.add (local.get $p) (local.get $cb)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j_loop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $r_loop))))

  ;; The softmax of attention.ts's attention scores, as its chain of stock kernels computes it, over the rows of
  ;; s [rows, cols]: m = the row's largest value as the stock Max finds it (a NaN where the row has one), e = expf(s - m) (this module's expf, ganc's Exp kernel), sums = the row's sum of e from 0
  ;; in column order (the stock Sum), attn = e / sums. The largest value is found 4 columns a lane from the
  ;; first value in every lane, the lanes then taken in order, NaNs noted on the way: the same value as the stock
  ;; Max's but for which zero's sign, and s - m (so e) is the same for either. The sums, a
  ;; dependent chain per row, go four rows at a time (one accumulator each) for the adds' latency. Byte offsets;
  ;; $tab: expfTable()'s 32 entries.
  (func (export "softmax_rows")
    (param $s i32) (param $e i32) (param $sums i32) (param $attn i32) (param $rows i32) (param $cols i32) (param $tab i32)
    (local $r i32) (local $j i32) (local $row i32) (local $erow i32) (local $rb i32) (local $end4 i32)
    (local $best v128) (local $v v128) (local $m f32) (local $x f32) (local $mv v128) (local $nan v128)
    (local $a0 f32) (local $a1 f32) (local $a2 f32) (local $a3 f32) (local $at i32)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    ;; e = s - m, row by row
    (block $r_done (loop $r_loop
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $s) (i32.mul (local.get $r) (local.get $rb))))
      (local.set $erow (i32.add (local.get $e) (i32.mul (local.get $r) (local.get $rb))))
      (local.set $m (f32.load (local.get $row)))
      (local.set $best (f32x4.splat (local.get $m)))
      (local.set $nan (v128.const i32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (block $v_done (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $j) (local.get $end4)))
        (local.set $v (v128.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $best (v128.bitselect (local.get $v) (local.get $best) (f32x4.gt (local.get $v) (local.get $best))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $v_loop)))
      (block $t_done (loop $t_loop
        (br_if $t_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
        (if (f32.ne (local.get $x) (local.get $x)) (then (local.set $nan (v128.const i32x4 -1 -1 -1 -1))))
        (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $t_loop)))
      (local.set $x (f32x4.extract_lane 0 (local.get $best)))
      (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
      (local.set $x (f32x4.extract_lane 1 (local.get $best)))
      (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
      (local.set $x (f32x4.extract_lane 2 (local.get $best)))
      (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
      (local.set $x (f32x4.extract_lane 3 (local.get $best)))
      (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
      (if (i32.or (v128.any_true (local.get $nan)) (f32.ne (local.get $m) (local.get $m))) (then (local.set $m (f32.const nan))))
      (local.set $mv (f32x4.splat (local.get $m)))
      (local.set $j (i32.const 0))
      (block $d_done (loop $d_loop
        (br_if $d_done (i32.ge_u (local.get $j) (local.get $end4)))
        (local.set $at (i32.shl (local.get $j) (i32.const 2)))
        (v128.store (i32.add (local.get $erow) (local.get $at)) (f32x4.sub (v128.load (i32.add (local.get $row) (local.get $at))) (local.get $mv)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $d_loop)))
      (block $dt_done (loop $dt_loop
        (br_if $dt_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $at (i32.shl (local.get $j) (i32.const 2)))
        (f32.store (i32.add (local.get $erow) (local.get $at)) (f32.sub (f32.load (i32.add (local.get $row) (local.get $at))) (local.get $m)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $dt_loop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $r_loop)))
    ;; e = expf(e), in place
    (call $expf (local.get $e) (local.get $e) (i32.mul (local.get $rows) (local.get $cols)) (local.get $tab))
    ;; sums, four rows at a time, then one at a time
    (local.set $r (i32.const 0))
    (block $s4_done (loop $s4_loop
      (br_if $s4_done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
      (local.set $row (i32.add (local.get $e) (i32.mul (local.get $r) (local.get $rb))))
      (local.set $a0 (f32.const 0)) (local.set $a1 (f32.const 0)) (local.set $a2 (f32.const 0)) (local.set $a3 (f32.const 0))
      (local.set $j (i32.const 0))
      (block $j_done (loop $j_loop
        (br_if $j_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $a0 (f32.add (local.get $a0) (f32.load (local.get $at))))
        (local.set $a1 (f32.add (local.get $a1) (f32.load (i32.add (local.get $at) (local.get $rb)))))
        (local.set $a2 (f32.add (local.get $a2) (f32.load (i32.add (local.get $at) (i32.shl (local.get $rb) (i32.const 1))))))
        (local.set $a3 (f32.add (local.get $a3) (f32.load (i32.add (local.get $at) (i32.mul (local.get $rb) (i32.const 3))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j_loop)))
      (local.set $at (i32.add (local.get $sums) (i32.shl (local.get $r) (i32.const 2))))
      (f32.store (local.get $at) (local.get $a0))
      (f32.store offset=4 (local.get $at) (local.get $a1))
      (f32.store offset=8 (local.get $at) (local.get $a2))
      (f32.store offset=12 (local.get $at) (local.get $a3))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $s4_loop)))
    (block $s1_done (loop $s1_loop
      (br_if $s1_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $e) (i32.mul (local.get $r) (local.get $rb))))
      (local.set $a0 (f32.const 0))
      (local.set $j (i32.const 0))
      (block $j1_done (loop $j1_loop
        (br_if $j1_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $a0 (f32.add (local.get $a0) (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j1_loop)))
      (f32.store (i32.add (local.get $sums) (i32.shl (local.get $r) (i32.const 2))) (local.get $a0))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $s1_loop)))
    ;; attn = e / sums
    (local.set $r (i32.const 0))
    (block $q_done (loop $q_loop
      (br_if $q_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $e) (i32.mul (local.get $r) (local.get $rb))))
      (local.set $erow (i32.add (local.get $attn) (i32.mul (local.get $r) (local.get $rb))))
      (local.set $m (f32.load (i32.add (local.get $sums) (i32.shl (local.get $r) (i32.const 2)))))
      (local.set $mv (f32x4.splat (local.get $m)))
      (local.set $j (i32.const 0))
      (block $qv_done (loop $qv_loop
        (br_if $qv_done (i32.ge_u (local.get $j) (local.get $end4)))
        (local.set $at (i32.shl (local.get $j) (i32.const 2)))
        (v128.store (i32.add (local.get $erow) (local.get $at)) (f32x4.div (v128.load (i32.add (local.get $row) (local.get $at))) (local.get $mv)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $qv_loop)))
      (block $qt_done (loop $qt_loop
        (br_if $qt_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $at (i32.shl (local.get $j) (i32.const 2)))
        (f32.store (i32.add (local.get $erow) (local.get $at)) (f32.div (f32.load (i32.add (local.get $row) (local.get $at))) (local.get $m)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $qt_loop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $q_loop))))

  ;; The softmax's backward pass as attention.ts writes tfjs's tape out, per row of dy, e [rows, cols] and sums
  ;; [rows]: t = the row's sum of dy * e from 0 in column order (Multiply, then the stock Sum), g = -(t / (sums *
  ;; sums)) (Square, RealDiv, Neg: the sum's gradient), ds = ((dy / sums + g) * e) + 0 (RealDiv's gradient, the
  ;; sum's added, Exp's, then the row maximum's zero gradient added). Each a float32 operation, so the same bits.
  (func (export "softmax_grad_rows")
    (param $dy i32) (param $e i32) (param $sums i32) (param $ds i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $j i32) (local $rb i32) (local $end4 i32) (local $off i32) (local $at i32)
    (local $t f32) (local $sm f32) (local $g f32) (local $smv v128) (local $gv v128)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (block $r_done (loop $r_loop
      (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $off (i32.mul (local.get $r) (local.get $rb)))
      (local.set $t (f32.const 0))
      (local.set $j (i32.const 0))
      (block $t_done (loop $t_loop
        (br_if $t_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $at (i32.add (local.get $off) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $t (f32.add (local.get $t) (f32.mul (f32.load (i32.add (local.get $dy) (local.get $at))) (f32.load (i32.add (local.get $e) (local.get $at))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $t_loop)))
      (local.set $sm (f32.load (i32.add (local.get $sums) (i32.shl (local.get $r) (i32.const 2)))))
      (local.set $g (f32.neg (f32.div (local.get $t) (f32.mul (local.get $sm) (local.get $sm)))))
      (local.set $smv (f32x4.splat (local.get $sm)))
      (local.set $gv (f32x4.splat (local.get $g)))
      (local.set $j (i32.const 0))
      (block $v_done (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $j) (local.get $end4)))
        (local.set $at (i32.add (local.get $off) (i32.shl (local.get $j) (i32.const 2))))
        (v128.store (i32.add (local.get $ds) (local.get $at))
          (f32x4.add
            (f32x4.mul (f32x4.add (f32x4.div (v128.load (i32.add (local.get $dy) (local.get $at))) (local.get $smv)) (local.get $gv))
                       (v128.load (i32.add (local.get $e) (local.get $at))))
            (v128.const f32x4 0 0 0 0)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $v_loop)))
      (block $vt_done (loop $vt_loop
        (br_if $vt_done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $at (i32.add (local.get $off) (i32.shl (local.get $j) (i32.const 2))))
        (f32.store (i32.add (local.get $ds) (local.get $at))
          (f32.add
            (f32.mul (f32.add (f32.div (f32.load (i32.add (local.get $dy) (local.get $at))) (local.get $sm)) (local.get $g))
                     (f32.load (i32.add (local.get $e) (local.get $at))))
            (f32.const 0)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $vt_loop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $r_loop))))

  ;; Spectral norm's float32 steps around its power iteration and products (src/runtime/fused/spectral.ts), for
  ;; ganc's GancSnNormalize and GancSnGrad kernels (wasm/index.ts, makeSpectralNormKernels).
  ;; dot_seq: the sum from 0 in index order of a[i] * b[i] for n float32 values: Multiply, then the stock Sum over
  ;; all axes (one running float32 sum, as the stock kernel adds). Byte offsets.
  (func (export "dot_seq") (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $i i32) (local $acc f32)
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (f32.add (local.get $acc)
        (f32.mul (f32.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2))))
                 (f32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $loop)))
    (local.get $acc))

  ;; out[i] = x[i] / d for n float32 values: RealDiv by a scalar. 4 a step, the last n % 4 one at a time. Byte offsets.
  (func (export "divide_to") (param $x i32) (param $out i32) (param $n i32) (param $d f32)
    (local $i i32) (local $end4 i32) (local $at i32) (local $dv v128)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $dv (f32x4.splat (local.get $d)))
    (block $vec_done (loop $vec
      (br_if $vec_done (i32.ge_u (local.get $i) (local.get $end4)))
      (local.set $at (i32.shl (local.get $i) (i32.const 2)))
      (v128.store (i32.add (local.get $out) (local.get $at)) (f32x4.div (v128.load (i32.add (local.get $x) (local.get $at))) (local.get $dv)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vec)))
    (block $tail_done (loop $tail
      (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $at (i32.shl (local.get $i) (i32.const 2)))
      (f32.store (i32.add (local.get $out) (local.get $at)) (f32.div (f32.load (i32.add (local.get $x) (local.get $at))) (local.get $d)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail))))
)
