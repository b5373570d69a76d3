//! [`Builder`]: how a host chooses what a [`Vm`] may do before it runs
//! anything: capabilities (the CLI's `--sandbox` and `--allow`), limits,
//! the scheduler's seed and clock, the blocking-work pool, and where
//! `print` goes.

use crate::{Error, Vm};
use std::io::Write;
use weft_vm::{Capabilities, Driver, Pool};

/// Chooses a VM's capabilities, limits and set-up; made by
/// [`Vm::builder`]. Every setting has the CLI's default: everything
/// allowed, no limit but the heap's (half the machine's memory) and a
/// call depth of 100,000 frames, real time, output to stdout.
///
/// ```
/// use weft::{Capabilities, Vm};
///
/// let mut vm = Vm::builder()
///     .capabilities(Capabilities::none())
///     .max_heap(64 << 20)
///     .max_instructions(10_000_000)
///     .max_call_depth(1_000)
///     .max_tasks(100)
///     .seed(7)
///     .virtual_time(true)
///     .build()?;
/// let error = vm.exec("read_file(\"/etc/passwd\")").unwrap_err();
/// assert_eq!(error.kind(), "PermissionDenied");
/// # Ok::<(), weft::Error>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    caps: Capabilities,
    /// A capability spec that did not parse: `build` reports it.
    bad_allow: Option<String>,
    max_heap: Option<usize>,
    max_instructions: Option<u64>,
    max_call_depth: Option<usize>,
    max_tasks: Option<usize>,
    seed: Option<u64>,
    virtual_time: bool,
    pool: Option<Pool>,
    driver: Option<Driver>,
    output: Option<Box<dyn Write + Send>>,
    error_output: Option<Box<dyn Write + Send>>,
    args: Vec<String>,
    stdlib: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            caps: Capabilities::all(),
            bad_allow: None,
            max_heap: None,
            max_instructions: None,
            max_call_depth: None,
            max_tasks: None,
            seed: None,
            virtual_time: false,
            pool: None,
            driver: None,
            output: None,
            error_output: None,
            args: Vec::new(),
            stdlib: true,
        }
    }
}

impl Builder {
    /// Sets every capability at once: [`Capabilities::none`] is the CLI's
    /// `--sandbox`, [`Capabilities::all`] (the default) no sandbox.
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().capabilities(weft::Capabilities::none()).build()?;
    /// assert_eq!(vm.exec("env(\"HOME\")").unwrap_err().kind(), "PermissionDenied");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn capabilities(mut self, caps: Capabilities) -> Builder {
        self.caps = caps;
        self
    }

    /// Switches every capability off (the CLI's `--sandbox`); grant some
    /// back with [`allow`](Builder::allow).
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().sandbox().allow("env").build()?;
    /// vm.exec("env(\"HOME\")")?;
    /// assert_eq!(vm.exec("spawn_process(\"true\")").unwrap_err().kind(), "PermissionDenied");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn sandbox(self) -> Builder {
        self.capabilities(Capabilities::none())
    }

    /// Grants one capability as the CLI's `--allow` writes it: `fs`,
    /// `fs=PATH`, `net`, `net=HOST:PORT`, `process`, `env`, `stdin`. A
    /// spec that does not parse makes [`build`](Builder::build) fail.
    pub fn allow(mut self, spec: &str) -> Builder {
        if let Err(why) = self.caps.allow(spec) {
            self.bad_allow.get_or_insert(why);
        }
        self
    }

    /// Caps the bytes the heap may hold; past it a script gets a
    /// catchable `OutOfMemory`.
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().max_heap(8 << 20).build()?;
    /// let error = vm.exec("let xs = []\nwhile true { xs.push([1, 2, 3, 4]) }").unwrap_err();
    /// assert_eq!(error.kind(), "OutOfMemory");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn max_heap(mut self, bytes: usize) -> Builder {
        self.max_heap = Some(bytes);
        self
    }

    /// Caps the instructions of each run (counted at loop back edges and
    /// calls, as docs/embedding.md describes): each `eval`, `exec`,
    /// `run_file` or `call` counts from zero. Past it the script gets a
    /// `Limit` error, and the run ends with it even if the script catches
    /// it. See [`Vm::set_max_instructions`](weft_vm::Vm::set_max_instructions).
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().max_instructions(100_000).build()?;
    /// let error = vm.exec("while true { try { while true {} } catch e {} }").unwrap_err();
    /// assert_eq!(error.kind(), "Limit");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn max_instructions(mut self, instructions: u64) -> Builder {
        self.max_instructions = Some(instructions);
        self
    }

    /// Caps the depth of a call stack; past it a script gets a catchable
    /// `StackOverflow`.
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().max_call_depth(100).build()?;
    /// let error = vm.exec("fn f(n) { return f(n + 1) }\nf(0)").unwrap_err();
    /// assert_eq!(error.kind(), "StackOverflow");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn max_call_depth(mut self, frames: usize) -> Builder {
        self.max_call_depth = Some(frames);
        self
    }

    /// Caps the tasks alive at once, the main task included; one more
    /// `spawn` raises a catchable `Limit` error.
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().max_tasks(10).build()?;
    /// let error = vm.exec("for i in 0..100 { spawn sleep(1) }").unwrap_err();
    /// assert_eq!(error.kind(), "Limit");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn max_tasks(mut self, tasks: usize) -> Builder {
        self.max_tasks = Some(tasks);
        self
    }

    /// Fixes the scheduler's choices (the order of ready tasks, `select`,
    /// `random()`), as the CLI's `--seed`.
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// Runs on a virtual clock that jumps to the next timer when every
    /// task waits, as the CLI's `--virtual-time`.
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().virtual_time(true).build()?;
    /// let now: f64 = vm.eval("sleep(3600)\nnow()")?;
    /// assert_eq!(now, 3600.0);
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Builder {
        self.virtual_time = on;
        self
    }

    /// Runs blocking work (file calls, blocking host functions) on a pool
    /// of at most `threads` threads of the VM's own.
    pub fn pool_threads(self, threads: usize) -> Builder {
        self.pool(Pool::new(threads.max(1)))
    }

    /// Runs blocking work on `pool`, which other VMs may share.
    pub fn pool(mut self, pool: Pool) -> Builder {
        self.pool = Some(pool);
        self
    }

    /// Waits for I/O on `driver`, which other VMs may share, on this
    /// thread or others: one poll, one waker, and whichever VM waits first
    /// polls for all of them. Without it a VM has a driver of its own.
    ///
    /// ```
    /// use weft::{Driver, Pool, Vm};
    ///
    /// let (driver, pool) = (Driver::new(), Pool::new(8));
    /// let a = Vm::builder().driver(driver.clone()).pool(pool.clone()).build()?;
    /// let b = Vm::builder().driver(driver.clone()).pool(pool).build()?;
    /// assert_eq!(driver.runtimes(), 2);
    /// # drop((a, b));
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn driver(mut self, driver: Driver) -> Builder {
        self.driver = Some(driver);
        self
    }

    /// Sends what `print` writes to `out` instead of stdout.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct Captured(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Captured {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    ///
    /// let captured = Captured::default();
    /// let mut vm = weft::Vm::builder().output(captured.clone()).build()?;
    /// vm.exec("print(\"hello\")")?;
    /// assert_eq!(captured.0.lock().unwrap().as_slice(), b"hello\n");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn output(mut self, out: impl Write + Send + 'static) -> Builder {
        self.output = Some(Box::new(out));
        self
    }

    /// Sends what `eprint` writes to `out` instead of stderr.
    pub fn error_output(mut self, out: impl Write + Send + 'static) -> Builder {
        self.error_output = Some(Box::new(out));
        self
    }

    /// Sets what the script's `args()` returns.
    pub fn args(mut self, args: Vec<String>) -> Builder {
        self.args = args;
        self
    }

    /// Leaves the standard library out: the VM has only what the host
    /// registers.
    pub fn without_stdlib(mut self) -> Builder {
        self.stdlib = false;
        self
    }

    /// Makes the VM. Fails only for a capability spec that did not parse.
    pub fn build(self) -> Result<Vm, Error> {
        if let Some(why) = self.bad_allow {
            return Err(Error::new("ValueError", why));
        }
        let mut vm = weft_vm::Vm::new();
        // The scheduler first: configuring it resets its task limit.
        vm.configure_scheduler(self.seed, self.virtual_time);
        if let Some(pool) = self.pool {
            vm.set_pool(pool);
        }
        if let Some(driver) = self.driver {
            // A new VM has registered nothing yet: this cannot be refused.
            let _ = vm.set_driver(driver);
        }
        if let Some(out) = self.output {
            vm.set_output(out);
        }
        if let Some(out) = self.error_output {
            vm.set_error_output(out);
        }
        if self.stdlib {
            weft_stdlib::install(&mut vm)?;
        }
        vm.set_capabilities(self.caps);
        vm.set_args(self.args);
        if let Some(bytes) = self.max_heap {
            vm.set_heap_limit(bytes);
        }
        if let Some(instructions) = self.max_instructions {
            vm.set_max_instructions(instructions);
        }
        if let Some(frames) = self.max_call_depth {
            vm.set_max_frames(frames);
        }
        if let Some(tasks) = self.max_tasks {
            vm.set_max_tasks(tasks);
        }
        Ok(Vm::from_core(vm))
    }
}
