;; wasi_snapshot_preview1 adapter for a stock Go (GOOS=wasip1) reactor.
;;
;; `jco new --adapt wasi_snapshot_preview1=<this module, embedded with
;; world.wit>` replaces the preview1 imports of the Go core module with these
;; functions. They use only interfaces of the wasi:http/proxy@0.2.0 world
;; (stdout, stderr, clocks, random, io), so the component needs no filesystem,
;; environment, exit or terminal interfaces. The guest sees an empty argument
;; list and environment, no preopened directories, stdout and stderr on fds 1
;; and 2, and nothing else: every other file call fails with EBADF.
;;
;; Pointers passed in by the guest point into the guest's memory, which the
;; adapter shares (env.memory). Imports that return a record through memory
;; need a return area, which the adapter takes once from the guest's
;; cabi_realloc. The Go guest's cabi_realloc serves such early calls before
;; its heap exists.
;;
;; Errno values are those of wasi_snapshot_preview1: 0 success, 8 EBADF,
;; 28 EINVAL, 29 EIO, 58 ENOTSUP.
(module
  (import "env" "memory" (memory 0))
  (import "__main_module__" "cabi_realloc"
    (func $cabi_realloc (param i32 i32 i32 i32) (result i32)))

  (import "wasi:io/error@0.2.0" "[resource-drop]error"
    (func $drop_error (param i32)))
  (import "wasi:io/poll@0.2.0" "[method]pollable.block"
    (func $pollable_block (param i32)))
  (import "wasi:io/poll@0.2.0" "[resource-drop]pollable"
    (func $drop_pollable (param i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $blocking_write_and_flush (param i32 i32 i32 i32)))
  (import "wasi:cli/stdout@0.2.0" "get-stdout"
    (func $get_stdout (result i32)))
  (import "wasi:cli/stderr@0.2.0" "get-stderr"
    (func $get_stderr (result i32)))
  (import "wasi:clocks/monotonic-clock@0.2.0" "now"
    (func $monotonic_now (result i64)))
  (import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration"
    (func $subscribe_duration (param i64) (result i32)))
  (import "wasi:clocks/wall-clock@0.2.0" "now"
    (func $wall_now (param i32)))
  (import "wasi:random/random@0.2.0" "get-random-u64"
    (func $random_u64 (result i64)))

  ;; Return area for imports that return through memory: 16 bytes, 8-aligned
  ;; (wall-clock datetime, result<_, stream-error>). Zero until first use.
  (global $return_area (mut i32) (i32.const 0))
  ;; Output streams for fds 1 and 2, taken on first write and kept for the
  ;; life of the instance. Zero means not taken yet (handles start at 1).
  (global $stdout (mut i32) (i32.const 0))
  (global $stderr (mut i32) (i32.const 0))

  (func $return_area (result i32)
    (if (i32.eqz (global.get $return_area))
      (then
        (global.set $return_area
          (call $cabi_realloc (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 16)))))
    (global.get $return_area))

  ;; Arguments and environment are empty: the guest reads its settings from
  ;; wasi:config/store, not from the environment.
  (func (export "args_sizes_get") (param $count i32) (param $size i32) (result i32)
    (i32.store (local.get $count) (i32.const 0))
    (i32.store (local.get $size) (i32.const 0))
    (i32.const 0))
  (func (export "args_get") (param i32 i32) (result i32)
    (i32.const 0))
  (func (export "environ_sizes_get") (param $count i32) (param $size i32) (result i32)
    (i32.store (local.get $count) (i32.const 0))
    (i32.store (local.get $size) (i32.const 0))
    (i32.const 0))
  (func (export "environ_get") (param i32 i32) (result i32)
    (i32.const 0))

  ;; Go calls proc_exit after a fatal error. The proxy world has no exit
  ;; interface, so the adapter traps and the host fails the request.
  (func (export "proc_exit") (param i32)
    unreachable)

  (func (export "sched_yield") (result i32)
    (i32.const 0))

  ;; clock_time_get(id, precision, *timestamp): id 0 is realtime, 1 is
  ;; monotonic. Go uses no other clock.
  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $out i32) (result i32)
    (local $area i32)
    (if (i32.eq (local.get $id) (i32.const 1))
      (then
        (i64.store (local.get $out) (call $monotonic_now))
        (return (i32.const 0))))
    (if (i32.eqz (local.get $id))
      (then
        (local.set $area (call $return_area))
        (call $wall_now (local.get $area))
        (i64.store (local.get $out)
          (i64.add
            (i64.mul (i64.load (local.get $area)) (i64.const 1000000000))
            (i64.load32_u offset=8 (local.get $area))))
        (return (i32.const 0))))
    (i32.const 28))

  ;; random_get fills the buffer eight bytes at a time from get-random-u64.
  (func (export "random_get") (param $buf i32) (param $len i32) (result i32)
    (local $word i64)
    (block $done
      (loop $words
        (br_if $done (i32.lt_u (local.get $len) (i32.const 8)))
        (i64.store align=1 (local.get $buf) (call $random_u64))
        (local.set $buf (i32.add (local.get $buf) (i32.const 8)))
        (local.set $len (i32.sub (local.get $len) (i32.const 8)))
        (br $words)))
    (if (i32.eqz (local.get $len))
      (then (return (i32.const 0))))
    (local.set $word (call $random_u64))
    (loop $bytes
      (i32.store8 (local.get $buf) (i32.wrap_i64 (local.get $word)))
      (local.set $word (i64.shr_u (local.get $word) (i64.const 8)))
      (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
      (local.set $len (i32.sub (local.get $len) (i32.const 1)))
      (br_if $bytes (local.get $len)))
    (i32.const 0))

  (func $output_stream (param $fd i32) (result i32)
    (if (i32.eq (local.get $fd) (i32.const 1))
      (then
        (if (i32.eqz (global.get $stdout))
          (then (global.set $stdout (call $get_stdout))))
        (return (global.get $stdout))))
    (if (i32.eq (local.get $fd) (i32.const 2))
      (then
        (if (i32.eqz (global.get $stderr))
          (then (global.set $stderr (call $get_stderr))))
        (return (global.get $stderr))))
    (i32.const 0))

  ;; fd_write(fd, *iovec, iovec count, *written) writes to stdout or stderr.
  ;; blocking-write-and-flush accepts at most 4096 bytes a call, so each
  ;; iovec goes out in chunks of that size.
  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $count i32) (param $written_out i32) (result i32)
    (local $stream i32)
    (local $area i32)
    (local $ptr i32)
    (local $len i32)
    (local $chunk i32)
    (local $written i32)
    (local.set $stream (call $output_stream (local.get $fd)))
    (if (i32.eqz (local.get $stream))
      (then (return (i32.const 8))))
    (local.set $area (call $return_area))
    (block $iovs_done
      (loop $next_iov
        (br_if $iovs_done (i32.eqz (local.get $count)))
        (local.set $ptr (i32.load (local.get $iovs)))
        (local.set $len (i32.load offset=4 (local.get $iovs)))
        (block $iov_done
          (loop $next_chunk
            (br_if $iov_done (i32.eqz (local.get $len)))
            (local.set $chunk
              (select (i32.const 4096) (local.get $len)
                (i32.gt_u (local.get $len) (i32.const 4096))))
            (call $blocking_write_and_flush
              (local.get $stream) (local.get $ptr) (local.get $chunk) (local.get $area))
            ;; result<_, stream-error>: byte 0 is 1 on error; byte 4 is the
            ;; stream-error case, 0 (last-operation-failed) carrying an
            ;; error handle at byte 8, 1 (closed) carrying nothing.
            (if (i32.load8_u (local.get $area))
              (then
                (if (i32.eqz (i32.load8_u offset=4 (local.get $area)))
                  (then (call $drop_error (i32.load offset=8 (local.get $area)))))
                (i32.store (local.get $written_out) (local.get $written))
                (return (i32.const 29))))
            (local.set $written (i32.add (local.get $written) (local.get $chunk)))
            (local.set $ptr (i32.add (local.get $ptr) (local.get $chunk)))
            (local.set $len (i32.sub (local.get $len) (local.get $chunk)))
            (br $next_chunk)))
        (local.set $iovs (i32.add (local.get $iovs) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next_iov)))
    (i32.store (local.get $written_out) (local.get $written))
    (i32.const 0))

  ;; poll_oneoff(*subscriptions, *events, count, *event count) waits for the
  ;; earliest clock subscription; Go's time.Sleep and timers rely on it.
  ;; The guest has no pollable files, so an fd subscription gets an EBADF
  ;; event at once and the call does not wait.
  ;;
  ;; Subscription (48 bytes): userdata u64 @0, tag u8 @8 (0 clock, 1 fd_read,
  ;; 2 fd_write), clock id u32 @16, timeout u64 @24, precision u64 @32,
  ;; flags u16 @40 (bit 0: timeout is absolute).
  ;; Event (32 bytes): userdata u64 @0, errno u16 @8, tag u8 @10, then
  ;; nbytes u64 @16 and flags u16 @24 for fd events.
  (func (export "poll_oneoff") (param $subs i32) (param $events i32) (param $count i32) (param $events_out i32) (result i32)
    (local $i i32)
    (local $sub i32)
    (local $event i32)
    (local $written i32)
    (local $wait i64)
    (local $earliest i32)
    (local $earliest_wait i64)
    (local $pollable i32)
    (if (i32.eqz (local.get $count))
      (then (return (i32.const 28))))
    (local.set $earliest (i32.const -1))
    (local.set $event (local.get $events))
    (block $scanned
      (loop $scan
        (br_if $scanned (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $sub (i32.add (local.get $subs) (i32.mul (local.get $i) (i32.const 48))))
        (if (i32.eqz (i32.load8_u offset=8 (local.get $sub)))
          (then
            (local.set $wait (call $clock_wait (local.get $sub)))
            (if (i32.or
                  (i32.lt_s (local.get $earliest) (i32.const 0))
                  (i64.lt_u (local.get $wait) (local.get $earliest_wait)))
              (then
                (local.set $earliest (local.get $i))
                (local.set $earliest_wait (local.get $wait)))))
          (else
            (memory.fill (local.get $event) (i32.const 0) (i32.const 32))
            (i64.store (local.get $event) (i64.load (local.get $sub)))
            (i32.store16 offset=8 (local.get $event) (i32.const 8))
            (i32.store8 offset=10 (local.get $event) (i32.load8_u offset=8 (local.get $sub)))
            (local.set $event (i32.add (local.get $event) (i32.const 32)))
            (local.set $written (i32.add (local.get $written) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (i32.and
          (i32.eqz (local.get $written))
          (i32.ge_s (local.get $earliest) (i32.const 0)))
      (then
        (if (i64.ne (local.get $earliest_wait) (i64.const 0))
          (then
            (local.set $pollable (call $subscribe_duration (local.get $earliest_wait)))
            (call $pollable_block (local.get $pollable))
            (call $drop_pollable (local.get $pollable))))
        (local.set $sub (i32.add (local.get $subs) (i32.mul (local.get $earliest) (i32.const 48))))
        (memory.fill (local.get $event) (i32.const 0) (i32.const 32))
        (i64.store (local.get $event) (i64.load (local.get $sub)))
        (local.set $written (i32.const 1))))
    (i32.store (local.get $events_out) (local.get $written))
    (i32.const 0))

  ;; clock_wait returns how many nanoseconds a clock subscription waits from
  ;; now, converting an absolute timeout on either clock to a relative one.
  (func $clock_wait (param $sub i32) (result i64)
    (local $timeout i64)
    (local $now i64)
    (local $area i32)
    (local.set $timeout (i64.load offset=24 (local.get $sub)))
    (if (i32.eqz (i32.and (i32.load16_u offset=40 (local.get $sub)) (i32.const 1)))
      (then (return (local.get $timeout))))
    (if (i32.eqz (i32.load offset=16 (local.get $sub)))
      (then
        (local.set $area (call $return_area))
        (call $wall_now (local.get $area))
        (local.set $now
          (i64.add
            (i64.mul (i64.load (local.get $area)) (i64.const 1000000000))
            (i64.load32_u offset=8 (local.get $area)))))
      (else
        (local.set $now (call $monotonic_now))))
    (if (i64.le_u (local.get $timeout) (local.get $now))
      (then (return (i64.const 0))))
    (i64.sub (local.get $timeout) (local.get $now)))

  ;; fdstat (24 bytes): filetype u8 @0 (2: character device), flags u16 @2,
  ;; rights base u64 @8, rights inheriting u64 @16. Fds 1 and 2 report
  ;; fd_write (bit 6); every other fd is closed.
  (func (export "fd_fdstat_get") (param $fd i32) (param $out i32) (result i32)
    (if (i32.or
          (i32.eq (local.get $fd) (i32.const 1))
          (i32.eq (local.get $fd) (i32.const 2)))
      (then
        (memory.fill (local.get $out) (i32.const 0) (i32.const 24))
        (i32.store8 (local.get $out) (i32.const 2))
        (i64.store offset=8 (local.get $out) (i64.const 64))
        (return (i32.const 0))))
    (i32.const 8))
  (func (export "fd_fdstat_set_flags") (param i32 i32) (result i32)
    (i32.const 58))
  (func (export "fd_fdstat_set_rights") (param i32 i64 i64) (result i32)
    (i32.const 58))
  (func (export "fd_close") (param i32) (result i32)
    (i32.const 8))

  ;; No preopened directories: EBADF on fd 3 ends Go's preopen scan.
  (func (export "fd_prestat_get") (param i32 i32) (result i32)
    (i32.const 8))
  (func (export "fd_prestat_dir_name") (param i32 i32 i32) (result i32)
    (i32.const 8))

  ;; File and socket calls that Go's syscall package declares. They fail with
  ;; EBADF because no file or directory descriptor exists. The component
  ;; keeps only the ones the guest imports.
  (func (export "fd_read") (param i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "fd_pread") (param i32 i32 i32 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_pwrite") (param i32 i32 i32 i64 i32) (result i32) (i32.const 8))
  (func (export "fd_seek") (param i32 i64 i32 i32) (result i32) (i32.const 8))
  (func (export "fd_sync") (param i32) (result i32) (i32.const 8))
  (func (export "fd_filestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_filestat_set_size") (param i32 i64) (result i32) (i32.const 8))
  (func (export "fd_readdir") (param i32 i32 i32 i64 i32) (result i32) (i32.const 8))
  (func (export "path_open") (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32) (i32.const 8))
  (func (export "path_create_directory") (param i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_remove_directory") (param i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_unlink_file") (param i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_filestat_get") (param i32 i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_filestat_set_times") (param i32 i32 i32 i32 i64 i64 i32) (result i32) (i32.const 8))
  (func (export "path_link") (param i32 i32 i32 i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_readlink") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_rename") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "path_symlink") (param i32 i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "sock_accept") (param i32 i32 i32) (result i32) (i32.const 8))
  (func (export "sock_shutdown") (param i32 i32) (result i32) (i32.const 8))
)
