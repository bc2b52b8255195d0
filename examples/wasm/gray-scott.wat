;; gray-scott.wat: one explicit Euler step of the Gray–Scott reaction–diffusion system
;;   ∂u/∂t = Du ∇²u − u v² + F (1 − u)
;;   ∂v/∂t = Dv ∇²v + u v² − (F + k) v
;; on an n×n periodic grid of f64 (5-point Laplacian, dt = 1). Built into gray-scott.wasm by
;; scripts/build-wasm.mjs; used by examples/gray-scott-wasm.mjs.
;;
;; Every value the kernel keeps lives in its linear memory (the exported "memory"): it has no
;; globals, so between two calls the whole state of the kernel is that memory, which the job
;; registers with cr.protect().
(module
  (memory (export "memory") 1)

  ;; Byte address of cell (r, c) of the grid that starts at byte `base`.
  (func $at (param $base i32) (param $n i32) (param $r i32) (param $c i32) (result i32)
    (i32.add (local.get $base)
      (i32.shl (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $c)) (i32.const 3))))

  ;; The 5-point Laplacian of the grid at `base`, at (i, j), with neighbours im, ip (rows) and jm, jp (columns).
  (func $laplacian (param $base i32) (param $n i32) (param $i i32) (param $j i32)
                   (param $im i32) (param $ip i32) (param $jm i32) (param $jp i32) (result f64)
    (f64.sub
      (f64.add
        (f64.add (f64.load (call $at (local.get $base) (local.get $n) (local.get $im) (local.get $j)))
                 (f64.load (call $at (local.get $base) (local.get $n) (local.get $ip) (local.get $j))))
        (f64.add (f64.load (call $at (local.get $base) (local.get $n) (local.get $i) (local.get $jm)))
                 (f64.load (call $at (local.get $base) (local.get $n) (local.get $i) (local.get $jp)))))
      (f64.mul (f64.const 4)
               (f64.load (call $at (local.get $base) (local.get $n) (local.get $i) (local.get $j))))))

  ;; Reads u, v from the grids at byte offsets us, vs; writes the next u, v to ud, vd.
  (func (export "step") (param $n i32) (param $us i32) (param $vs i32) (param $ud i32) (param $vd i32)
                        (param $du f64) (param $dv f64) (param $f f64) (param $k f64)
    (local $i i32) (local $j i32) (local $im i32) (local $ip i32) (local $jm i32) (local $jp i32)
    (local $u f64) (local $v f64) (local $uvv f64)
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $n)))
        ;; periodic neighbours: im = i − 1 (or n − 1), ip = i + 1 (or 0)
        (local.set $im (i32.sub (select (local.get $n) (local.get $i) (i32.eqz (local.get $i))) (i32.const 1)))
        (local.set $ip (i32.add (local.get $i) (i32.const 1)))
        (local.set $ip (select (i32.const 0) (local.get $ip) (i32.eq (local.get $ip) (local.get $n))))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $jm (i32.sub (select (local.get $n) (local.get $j) (i32.eqz (local.get $j))) (i32.const 1)))
            (local.set $jp (i32.add (local.get $j) (i32.const 1)))
            (local.set $jp (select (i32.const 0) (local.get $jp) (i32.eq (local.get $jp) (local.get $n))))
            (local.set $u (f64.load (call $at (local.get $us) (local.get $n) (local.get $i) (local.get $j))))
            (local.set $v (f64.load (call $at (local.get $vs) (local.get $n) (local.get $i) (local.get $j))))
            (local.set $uvv (f64.mul (local.get $u) (f64.mul (local.get $v) (local.get $v))))
            ;; u + Du ∇²u − u v² + F (1 − u)
            (f64.store (call $at (local.get $ud) (local.get $n) (local.get $i) (local.get $j))
              (f64.add
                (f64.sub
                  (f64.add (local.get $u)
                    (f64.mul (local.get $du)
                      (call $laplacian (local.get $us) (local.get $n) (local.get $i) (local.get $j)
                                       (local.get $im) (local.get $ip) (local.get $jm) (local.get $jp))))
                  (local.get $uvv))
                (f64.mul (local.get $f) (f64.sub (f64.const 1) (local.get $u)))))
            ;; v + Dv ∇²v + u v² − (F + k) v
            (f64.store (call $at (local.get $vd) (local.get $n) (local.get $i) (local.get $j))
              (f64.sub
                (f64.add
                  (f64.add (local.get $v)
                    (f64.mul (local.get $dv)
                      (call $laplacian (local.get $vs) (local.get $n) (local.get $i) (local.get $j)
                                       (local.get $im) (local.get $ip) (local.get $jm) (local.get $jp))))
                  (local.get $uvv))
                (f64.mul (f64.add (local.get $f) (local.get $k)) (local.get $v))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))
)
