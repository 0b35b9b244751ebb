;; ext-wat: an extension written by hand in the component text format.
;;
;; The host assembles it with `wasmtime.wat2wasm`; `wasm-tools parse` does the
;; same on the command line. It imports `ext:host/log@0.1.0`, and exports
;; `ext:wat/lib@1.0.0` and `ext:host/lifecycle@0.1.0` (see wit/world.wit).
(component
  ;; ---- import ext:host/log@0.1.0 -------------------------------------------
  (import "ext:host/log@0.1.0" (instance $log
    (type $level-def (enum "trace" "debug" "info" "warn" "error"))
    (export "level" (type $level (eq $level-def)))
    (export "log" (func (param "level" $level) (param "message" string)))
  ))
  (alias export $log "log" (func $log-fn))

  ;; ---- core code -------------------------------------------------------------
  ;; The memory lives in its own module so that the lowered `log` import
  ;; (which needs a memory to read the string from) can exist before $Main.
  (core module $Memory
    (memory (export "memory") 1)
  )
  (core instance $memory (instantiate $Memory))
  (core func $log-core (canon lower (func $log-fn) (memory (core memory $memory "memory"))))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "host" "log" (func $log (param i32 i32 i32)))

    (data (i32.const 0) "ext-wat initialized")    ;; 19 bytes
    ;; bytes 64..76 stay zero: the return area of `init`, i.e. result::ok.

    (func (export "mul") (param i32 i32) (result i32)
      (i32.mul (local.get 0) (local.get 1)))

    ;; i32.div_s traps on a zero divisor (and on i32::MIN / -1).
    (func (export "div") (param i32 i32) (result i32)
      (i32.div_s (local.get 0) (local.get 1)))

    (func (export "init") (result i32)
      (call $log (i32.const 2) (i32.const 0) (i32.const 19)) ;; info
      (i32.const 64))
  )
  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "host" (instance (export "log" (func $log-core))))
  ))

  ;; ---- exports -----------------------------------------------------------------
  (func $mul (param "a" s32) (param "b" s32) (result s32)
    (canon lift (core func $main "mul")))
  (func $div (param "a" s32) (param "b" s32) (result s32)
    (canon lift (core func $main "div")))
  (instance $lib
    (export "mul" (func $mul))
    (export "div" (func $div))
  )
  (export "ext:wat/lib@1.0.0" (instance $lib))

  (type $init-result (result (error string)))
  (func $init (result $init-result)
    (canon lift (core func $main "init") (memory (core memory $memory "memory"))))
  (instance $lifecycle (export "init" (func $init)))
  (export "ext:host/lifecycle@0.1.0" (instance $lifecycle))
)
