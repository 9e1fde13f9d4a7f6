;; A hostile task that spreads its allocation over four tables instead of
;; memories: each holds 1,100,000 elements (about 17 MiB at 16 bytes an
;; element), about 70 MiB in all, so it passes a 64 MiB limit only if tables
;; are left out of the sum. Exports wasi:cli/run; imports nothing.
(component
  (core module $tab
    (table 1 funcref)
    (func (export "grow") (param i32) (result i32)
      ref.null func
      local.get 0
      table.grow 0))
  (core instance $t1 (instantiate $tab))
  (core instance $t2 (instantiate $tab))
  (core instance $t3 (instantiate $tab))
  (core instance $t4 (instantiate $tab))
  (core module $main
    (import "t1" "grow" (func $g1 (param i32) (result i32)))
    (import "t2" "grow" (func $g2 (param i32) (result i32)))
    (import "t3" "grow" (func $g3 (param i32) (result i32)))
    (import "t4" "grow" (func $g4 (param i32) (result i32)))
    (func (export "run") (result i32)
      (drop (call $g1 (i32.const 1100000)))
      (drop (call $g2 (i32.const 1100000)))
      (drop (call $g3 (i32.const 1100000)))
      (drop (call $g4 (i32.const 1100000)))
      (i32.const 0)))
  (core instance $main (instantiate $main
    (with "t1" (instance $t1))
    (with "t2" (instance $t2))
    (with "t3" (instance $t3))
    (with "t4" (instance $t4))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))
