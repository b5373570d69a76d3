//! What natives see of the runtime: [`Ctx`], and the narrow calls through
//! which they allocate, report, wait and cancel.

use crate::trace::TraceEntry;
use crate::{fmt, heap, sched, Code, Heap, Ref, Runtime, Throw, Value};

/// What a native sees: the mutable runtime and the loaded code.
pub struct Ctx<'a> {
    pub rt: &'a mut Runtime,
    pub code: &'a Code,
    /// The calling frame's function and pc, for [`Ctx::site`].
    pub site: Option<(u32, u32)>,
}

impl Ctx<'_> {
    pub fn heap(&mut self) -> &mut Heap {
        &mut self.rt.heap
    }

    /// What `str(v)` gives.
    pub fn display(&self, v: Value) -> String {
        fmt::display(&self.rt.heap, self.code, v)
    }

    /// The literal form of `v` (strings quoted).
    pub fn repr(&self, v: Value) -> String {
        fmt::repr(&self.rt.heap, self.code, v)
    }

    /// A new (interned) string value.
    pub fn string(&mut self, s: &str) -> Value {
        Value::Str(self.rt.heap.intern(s))
    }

    /// A new list value.
    pub fn list(&mut self, items: Vec<Value>) -> Value {
        Value::List(self.rt.heap.new_list(items))
    }

    /// Where the native was called from, for reports.
    pub fn site(&self) -> Option<TraceEntry> {
        let (proto, pc) = self.site?;
        let p = self.code.protos.get(proto as usize)?;
        let span = *p.spans.get((pc as usize).saturating_sub(1))?;
        Some(TraceEntry { function: p.name.clone(), file: p.file, span })
    }

    /// Raises `Cancelled` if the running task's scope is cancelled: every
    /// operation that may block calls this first.
    pub fn checkpoint(&self) -> Result<(), Throw> {
        match self.rt.sched.cancelled(self.rt.sched.current) {
            Some(scope) => Err(Throw::Cancelled(Some(scope))),
            None => Ok(()),
        }
    }

    /// Parks the running task until `event` happens: the one way a native
    /// waits. Return the result from the native, as `Err(cx.park(..))`;
    /// the task resumes with what its waker delivers (the received value,
    /// nil, or an error such as `Cancelled`).
    pub fn park(&mut self, event: sched::Event) -> Throw {
        self.rt.sched.register(&mut self.rt.heap, event, sched::Via::Call);
        self.rt.sched.park(false);
        Throw::Park
    }

    /// Seconds on the scheduler's clock (real or virtual) since the run
    /// started.
    pub fn now(&self) -> f64 {
        self.rt.sched.clock.now()
    }

    /// Whether the task handle `t` names the task running this native.
    pub fn is_current_task(&self, t: Ref) -> bool {
        self.rt.heap.task(t).id == self.rt.sched.current
    }

    /// The running task's context map (`context_get`/`context_set`), if
    /// it has one.
    pub fn context(&self) -> Option<Ref> {
        match self.rt.sched.meta(self.rt.sched.current).context {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The running task's context map, made on first use.
    pub fn context_or_new(&mut self) -> Ref {
        if let Some(m) = self.context() {
            return m;
        }
        let m = self.rt.heap.new_map(Default::default());
        let current = self.rt.sched.current;
        self.rt.sched.meta_mut(current).context = Value::Map(m);
        m
    }

    /// Cancels the task with handle `t` (nothing if it has finished).
    pub fn cancel_task(&mut self, t: Ref) {
        let task = self.rt.heap.task(t);
        if matches!(task.outcome, heap::Outcome::Running) {
            let id = task.id;
            self.rt.sched.cancel_task(&mut self.rt.heap, id);
        }
    }

    /// Cancels the nursery with handle `n` and every task in it (nothing if
    /// it has finished).
    pub fn cancel_nursery(&mut self, n: Ref) {
        let id = self.rt.heap.nursery(n);
        if let Some(scope) = self.rt.sched.nurseries.get(id).map(|n| n.scope) {
            self.rt.sched.cancel(&mut self.rt.heap, scope);
        }
    }

    /// Parks the running task until another thread wakes it through the
    /// returned waker (the native's result is then the waker's message),
    /// or until it is cancelled, whichever claims the wait first.
    pub fn park_remote(&mut self) -> (sched::driver::RemoteWaker, Throw) {
        let waker = self.rt.sched.remote_waker(sched::Via::Call);
        self.rt.sched.park(false);
        (waker, Throw::Park)
    }
}
