;; A hostile task that spreads its allocation over four linear memories:
;; each grows by 20 MiB (320 pages), 80 MiB in all, so a limit that only
;; bounds each memory on its own (wasmtime's StoreLimits) would let it pass.
;; Exports wasi:cli/run like any command; it imports nothing.
(component
  (core module $mem
    (memory 1)
    (func (export "grow") (param i32) (result i32)
      local.get 0
      memory.grow))
  (core instance $m1 (instantiate $mem))
  (core instance $m2 (instantiate $mem))
  (core instance $m3 (instantiate $mem))
  (core instance $m4 (instantiate $mem))
  (core module $main
    (import "m1" "grow" (func $g1 (param i32) (result i32)))
    (import "m2" "grow" (func $g2 (param i32) (result i32)))
    (import "m3" "grow" (func $g3 (param i32) (result i32)))
    (import "m4" "grow" (func $g4 (param i32) (result i32)))
    (func (export "run") (result i32)
      (drop (call $g1 (i32.const 320)))
      (drop (call $g2 (i32.const 320)))
      (drop (call $g3 (i32.const 320)))
      (drop (call $g4 (i32.const 320)))
      (i32.const 0)))
  (core instance $main (instantiate $main
    (with "m1" (instance $m1))
    (with "m2" (instance $m2))
    (with "m3" (instance $m3))
    (with "m4" (instance $m4))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))
