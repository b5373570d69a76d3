//! The session: top-level names that outlive one run. A REPL and a
//! long-lived host evaluate many pieces of code on one VM, and each piece
//! sees what the ones before it defined, as if they were one file typed in
//! parts. Scripts run with `run_script` keep a scope of their own and leave
//! the session alone.

use crate::{Failure, Throw, Value, Vm};
use std::path::Path;

impl Vm {
    /// Compiles and runs `text` in the session: its top-level `let`, `fn`
    /// and `import` names stay defined for later calls, and the value of a
    /// final expression statement is the result (nil otherwise). `name`
    /// is what reports call the code; imports are relative to the current
    /// directory.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// vm.eval("<setup>", "let base = 40\nfn add(a, b) { return a + b }").unwrap();
    /// let answer = vm.eval("<use>", "add(base, 2)").unwrap();
    /// assert!(matches!(answer, weft_vm::Value::Int(42)));
    /// ```
    ///
    /// The code of every piece stays loaded, as a function defined in it
    /// may still be called: a host that runs the same script code many
    /// times should define it once as a function and call that.
    pub fn eval(&mut self, name: &str, text: &str) -> Result<Value, Failure> {
        self.eval_in(name, text, Path::new("."))
    }

    /// Runs the file at `path` in the session, as [`eval`](Vm::eval)
    /// does: its top-level names stay defined, so a host can then call its
    /// functions. Its imports are relative to its folder.
    pub fn run_file(&mut self, path: impl AsRef<Path>) -> Result<Value, Failure> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = crate::load::read_source(path).map_err(|why| {
            let message = format!("cannot read {name}: {why}");
            crate::report::without_source(crate::ErrorKind::IOError, message)
        })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        self.eval_in(&name, &text, dir)
    }

    fn eval_in(&mut self, name: &str, text: &str, dir: &Path) -> Result<Value, Failure> {
        self.guarded(|vm| {
            let mut scope = std::mem::take(&mut vm.session);
            let mode = vm.session_mode();
            let loaded = vm.load(name, text, dir, &mut scope, mode);
            vm.session = scope;
            vm.run_session_entry(loaded?, name)
        })
    }

    /// The value of the global `name`: a top-level name of the session, or
    /// a builtin. `None` if there is no such name.
    pub fn global(&self, name: &str) -> Option<Value> {
        let slot = self.session.get(name).or_else(|| self.env.builtin(name))?;
        Some(self.rt.globals.get(slot as usize).copied().unwrap_or(Value::Nil))
    }

    /// Sets the session's global `name` to `value`, defining it if it is
    /// new: later code sees it as a top-level `let`. A value that names no
    /// live object of its type is refused, as by
    /// [`register_value`](Vm::register_value).
    pub fn set_global(&mut self, name: &str, value: Value) -> Result<(), Throw> {
        self.check_value(value)?;
        let slot = match self.session.get(name) {
            Some(slot) => slot,
            None => self.session.declare(&mut self.env, name),
        };
        self.set_global_slot(slot, value);
        Ok(())
    }

    /// The session's top-level names, in the order they were defined.
    pub fn session_names(&self) -> impl Iterator<Item = &str> {
        self.session.names().map(|(name, _)| name)
    }
}
