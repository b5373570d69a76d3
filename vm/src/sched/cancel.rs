//! Cancel scopes: the tree that cancellation travels down.
//!
//! Every task has a stack of scopes (its own, then each `nursery`,
//! `timeout` and `shield` block it is in), each the child of the one below
//! it; a spawned task's own scope is a child of its nursery's scope. Each
//! scope keeps its children, so cancelling one walks only its subtree and
//! wakes the tasks parked there, instead of scanning every task of the
//! program. A shield stops the walk; so does a scope already cancelled,
//! whose parked tasks were woken when it was.

use super::{Resume, Scheduler, ScopeId, State, TaskId, TimerKey, TimerKind};
use crate::error::Throw;
use crate::heap::Heap;

pub struct Scope {
    pub parent: Option<ScopeId>,
    /// The task whose scope stack holds it.
    pub task: TaskId,
    /// Scopes opened inside it, in this task or in tasks spawned into it.
    children: Vec<ScopeId>,
    /// Its place in its parent's `children`.
    index_in_parent: u32,
    /// Cancelled, by `cancel()`, a failing sibling or its deadline.
    pub cancelled: bool,
    /// A `shield` block: cancellation from outside stops here.
    pub shield: bool,
    /// For `timeout`: whether its deadline passed.
    pub expired: bool,
    /// For `timeout`: the pending deadline.
    deadline: Option<TimerKey>,
}

impl Scheduler {
    /// Makes a scope of task `task` inside `parent`.
    pub(super) fn new_scope(&mut self, task: TaskId, parent: Option<ScopeId>, shield: bool) -> ScopeId {
        let index_in_parent = parent.and_then(|p| self.scopes.get(p)).map_or(0, |p| p.children.len() as u32);
        let id = self.scopes.insert(Scope {
            parent,
            task,
            children: Vec::new(),
            index_in_parent,
            cancelled: false,
            shield,
            expired: false,
            deadline: None,
        });
        if let Some(p) = parent.and_then(|p| self.scopes.get_mut(p)) {
            p.children.push(id);
        }
        id
    }

    /// Removes a scope from the tree, with its deadline.
    pub(crate) fn remove_scope(&mut self, id: ScopeId) -> Option<Scope> {
        let scope = self.scopes.remove(id)?;
        if let Some(key) = scope.deadline {
            self.timers.cancel(key);
        }
        if let Some(parent) = scope.parent.and_then(|p| self.scopes.get_mut(p)) {
            let at = scope.index_in_parent as usize;
            if parent.children.get(at) == Some(&id) {
                parent.children.swap_remove(at);
                if let Some(&moved) = parent.children.get(at) {
                    if let Some(m) = self.scopes.get_mut(moved) {
                        m.index_in_parent = at as u32;
                    }
                }
            }
        }
        // Children outlive their parent only when a task ends with an open
        // nursery (its run failed): they become roots.
        for child in &scope.children {
            if let Some(c) = self.scopes.get_mut(*child) {
                c.parent = None;
            }
        }
        Some(scope)
    }

    /// The innermost scope of task `id`.
    pub fn scope_of(&self, id: TaskId) -> ScopeId {
        *self.meta(id).scopes.last().expect("a task has its own scope")
    }

    /// The outermost cancelled scope that reaches task `id`, if any: the
    /// scope that absorbs the `Cancelled` it must raise.
    pub fn cancelled(&self, id: TaskId) -> Option<ScopeId> {
        let mut scope = Some(self.scope_of(id));
        let mut found = None;
        while let Some(s) = scope {
            let Some(sc) = self.scopes.get(s) else { break };
            if sc.cancelled {
                found = Some(s);
            }
            if sc.shield {
                break;
            }
            scope = sc.parent;
        }
        found
    }

    /// Cancels a scope: every task inside it that is parked raises
    /// `Cancelled` now; running ones at their next checkpoint. Costs the
    /// size of the scope's subtree.
    pub fn cancel(&mut self, heap: &mut Heap, scope: ScopeId) {
        self.cancel_subtree(heap, scope);
    }

    /// [`Scheduler::cancel`], returning how many scopes it visited.
    fn cancel_subtree(&mut self, heap: &mut Heap, scope: ScopeId) -> usize {
        match self.scopes.get_mut(scope) {
            Some(s) if !s.cancelled => {
                s.cancelled = true;
                if let Some(key) = s.deadline.take() {
                    self.timers.cancel(key);
                }
            }
            _ => return 0,
        }
        let mut parked = Vec::new();
        let mut todo = vec![scope];
        let mut visited = 0;
        while let Some(s) = todo.pop() {
            visited += 1;
            let Some(sc) = self.scopes.get(s) else { continue };
            // A task is met once: at its innermost scope.
            if let Some(meta) = self.tasks.get(sc.task) {
                if meta.scopes.last() == Some(&s) && meta.state == State::Parked && !meta.waits_for_nursery() {
                    parked.push((sc.task, meta.token));
                }
            }
            let scopes = &self.scopes;
            todo.extend(sc.children.iter().filter(|&&c| scopes.get(c).is_some_and(|c| !c.shield && !c.cancelled)));
        }
        for (id, token) in parked {
            if let Some(absorber) = self.cancelled(id) {
                self.wake(heap, id, token, Resume::Raise(Throw::Cancelled(Some(absorber))));
            }
        }
        visited
    }

    /// Opens a cancel scope in the running task.
    pub fn push_scope(&mut self, shield: bool) -> ScopeId {
        let id = self.current;
        let parent = self.scope_of(id);
        let scope = self.new_scope(id, Some(parent), shield);
        self.meta_mut(id).scopes.push(scope);
        scope
    }

    /// Leaves the running task's innermost scope.
    pub fn pop_scope(&mut self) -> Option<(ScopeId, Scope)> {
        let id = self.current;
        let meta = self.meta_mut(id);
        if meta.scopes.len() <= 1 {
            return None;
        }
        let scope = meta.scopes.pop().expect("checked");
        self.remove_scope(scope).map(|s| (scope, s))
    }

    /// Cancels `scope` after `seconds`.
    pub fn set_deadline(&mut self, scope: ScopeId, seconds: f64) {
        let at = self.clock.nanos().saturating_add(super::timer::delay_nanos(seconds));
        let key = self.timers.add(at, TimerKind::Deadline { scope });
        if let Some(s) = self.scopes.get_mut(scope) {
            s.deadline = Some(key);
        }
    }

    /// A `timeout` scope's deadline came.
    pub(super) fn expire(&mut self, heap: &mut Heap, scope: ScopeId) {
        if let Some(s) = self.scopes.get_mut(scope) {
            s.deadline = None;
            s.expired = true;
            self.cancel(heap, scope);
        }
    }

    /// Cancels task `id` through its own scope.
    pub fn cancel_task(&mut self, heap: &mut Heap, id: TaskId) {
        if let Some(&scope) = self.tasks.get(id).and_then(|m| m.scopes.first()) {
            self.cancel(heap, scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Task;

    /// A scheduler whose main task has a nursery with `idle` parked tasks
    /// in it, and a `timeout` scope beside the nursery.
    fn with_idle_tasks(idle: usize) -> (Scheduler, ScopeId, ScopeId) {
        let mut sched = Scheduler::new(None, true);
        let main = sched.add_task(Box::new(Task::new()), None, None);
        sched.current = main;
        let nursery = sched.push_scope(false);
        for _ in 0..idle {
            let id = sched.add_task(Box::new(Task::new()), Some(nursery), None);
            sched.meta_mut(id).state = State::Parked;
        }
        // The timeout opens inside the nursery's sibling position: a scope
        // of the main task's own scope, not of the nursery.
        sched.current = main;
        let own = sched.meta(main).scopes[0];
        let timeout = sched.new_scope(main, Some(own), false);
        (sched, nursery, timeout)
    }

    #[test]
    fn cancel_visits_only_the_cancelled_subtree() {
        let mut heap = Heap::new();
        let (mut sched, nursery, timeout) = with_idle_tasks(10_000);
        assert_eq!(sched.cancel_subtree(&mut heap, timeout), 1);
        assert_eq!(sched.runq.len(), 10_001, "no idle task was woken");
        assert_eq!(sched.cancel_subtree(&mut heap, nursery), 10_001);
        assert_eq!(sched.runq.len(), 20_001, "every idle task was woken");
        assert_eq!(sched.cancel_subtree(&mut heap, nursery), 0, "cancelling twice does nothing");
    }

    #[test]
    fn removed_scopes_leave_their_parent() {
        let (mut sched, nursery, _) = with_idle_tasks(3);
        let children: Vec<ScopeId> = sched.scopes.get(nursery).map(|s| s.children.clone()).unwrap_or_default();
        assert_eq!(children.len(), 3);
        sched.remove_scope(children[0]);
        let left = &sched.scopes.get(nursery).expect("still open").children;
        assert_eq!(left.len(), 2);
        for (i, c) in left.iter().enumerate() {
            assert_eq!(sched.scopes.get(*c).map(|s| s.index_in_parent), Some(i as u32));
        }
    }
}
